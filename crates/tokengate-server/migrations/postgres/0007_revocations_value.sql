-- Revocations by id, for the checks made while an instance reads the set
-- at start (storage/revocations.rs, look_up).
CREATE INDEX revocations_value ON revocations (value);
