-- Sessions (issue: "sessions people can see and end"): what the owner of a
-- login sees of it, and the refresh token spent last for the reuse
-- interval. Times in milliseconds since the epoch. Logins made before this
-- migration show it as their start.
ALTER TABLE refresh_families ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refresh_families ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refresh_families ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE refresh_families ADD COLUMN provider TEXT;
ALTER TABLE refresh_families ADD COLUMN user_agent TEXT;
ALTER TABLE refresh_families ADD COLUMN ip TEXT;
-- The refresh token spent last, and when it was first spent.
ALTER TABLE refresh_families ADD COLUMN previous_jti TEXT;
ALTER TABLE refresh_families ADD COLUMN rotated_at INTEGER NOT NULL DEFAULT 0;
UPDATE refresh_families SET created_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000, last_used_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
-- A user's logins, newest first.
CREATE INDEX refresh_families_sub ON refresh_families (sub, created_at);
