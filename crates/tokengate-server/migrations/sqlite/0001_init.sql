-- Users: usernames unique case-insensitively, enforced here, not by a read-then-write.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    scopes        TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);

-- One row per login: the refresh token that may be spent next.
CREATE TABLE refresh_families (
    id          TEXT    PRIMARY KEY,
    sub         TEXT    NOT NULL,
    current_jti TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);

-- Every revocation, in order; instances follow the id to stay in step.
CREATE TABLE revocations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('token', 'family', 'subject')),
    value      TEXT    NOT NULL,
    before_ms  INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);
