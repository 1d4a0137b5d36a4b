-- The same tables as migrations/sqlite/0009_passkeys.sql, in PostgreSQL's types.
-- Passkeys (issue "Passkeys: log in without a password").

-- A user's WebAuthn user handle (a random UUID its authenticators keep
-- with its passkeys; a login without a username names the user by it),
-- set with the user's first passkey.
ALTER TABLE users ADD COLUMN webauthn_handle TEXT;
CREATE UNIQUE INDEX users_webauthn_handle ON users (webauthn_handle);

-- Registered passkeys. `id`: the credential id in base64url (unique across
-- users: the same credential twice is refused); `credential`: the
-- library's PasskeyCredential (JSON: public key, counter, flags; no
-- secret); `sign_count`: its signature counter, so that a late write never
-- lowers it. Times in milliseconds since the epoch.
CREATE TABLE passkeys (
    id           TEXT    PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    name         TEXT    NOT NULL,
    credential   TEXT    NOT NULL,
    sign_count   BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user_id ON passkeys (user_id, created_at);

-- Ceremonies between their start and their finish, by challenge (base64url),
-- in the database so that any instance finishes what another began. `kind`:
-- register (a signed-in user adds a passkey), signup (a new account),
-- login. `user_id`: the user a register or a login with a username is
-- bound to; `username`: the name a signup asks for. `data`: the library's
-- state (JSON). A row is deleted when its finish comes (once), or once
-- expired (`expires_at`, milliseconds since the epoch).
CREATE TABLE passkey_ceremonies (
    challenge  TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('register', 'signup', 'login')),
    user_id    BIGINT,
    username   TEXT,
    handle     TEXT,
    data       TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX passkey_ceremonies_expires_at ON passkey_ceremonies (expires_at);
