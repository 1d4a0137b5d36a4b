-- Logins with an OIDC provider (issue 6).

-- A local user is linked to a provider's account by (provider, sub), never by
-- email: the primary key makes concurrent first logins end with one link.
CREATE TABLE oidc_identities (
    provider   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX oidc_identities_user_id ON oidc_identities (user_id);

-- The id_token of a login (by refresh-token family), kept for the
-- provider's logout (id_token_hint) until the login expires.
CREATE TABLE oidc_logins (
    family     TEXT    PRIMARY KEY,
    provider   TEXT    NOT NULL,
    id_token   TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_logins_expires_at ON oidc_logins (expires_at);
