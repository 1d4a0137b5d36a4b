-- A disabled user cannot log in or refresh (`tokengate user disable`);
-- 1 = disabled.
ALTER TABLE users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
