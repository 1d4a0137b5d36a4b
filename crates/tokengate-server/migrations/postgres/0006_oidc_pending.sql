-- OIDC logins between the redirect to the provider and the callback, by
-- `state`: in the database so that any instance can finish a login another
-- began. `data`: the library's PendingLogin (JSON, with the nonce and the
-- PKCE verifier); `expires_at`: milliseconds since the epoch. A row is
-- deleted when its callback comes (once), or once expired.
CREATE TABLE oidc_pending_logins (
    state TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_pending_logins_expires_at ON oidc_pending_logins (expires_at);
