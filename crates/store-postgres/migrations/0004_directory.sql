-- One-time tokens mailed to users: activation (set the first password) and e-mail change
-- confirmation. Only the SHA-256 of a token is kept, so a copy of the database does not hand
-- out working links. A user's tokens go with the user.
CREATE TABLE user_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    -- For an e-mail change: the address to apply; NULL clears it.
    new_email   TEXT,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX user_tokens_user ON user_tokens(user_id, purpose);
CREATE INDEX user_tokens_expiry ON user_tokens(expires_at);

-- The directory listing pages by id: within one tenant through this index, across a subtree
-- through the tenants' path index; `updated_since` narrows by the last change.
CREATE INDEX users_tenant_id ON users(tenant_id, id);
CREATE INDEX users_updated ON users(updated_at);
