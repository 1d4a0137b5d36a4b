-- Memos of the browser demo (issue 7): each belongs to one user, and every
-- query filters by user_id, so another user's memo is never found.
CREATE TABLE memos (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    title      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    archived   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX memos_user_id ON memos (user_id);
