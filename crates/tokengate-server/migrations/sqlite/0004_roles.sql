-- Roles granted to a user (space-separated, like scopes): the `roles` claim
-- of their tokens, checked by forward auth's `?role=`.
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '';
