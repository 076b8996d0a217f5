-- Permanent access keys (AK/SK) for request signing. The secret must be recoverable to verify
-- signatures, so it is sealed with the key-encryption key (AES-256-GCM, bound to the access
-- key) rather than hashed. There is no "last used" column: keeping it would be a write on
-- every signed request.
CREATE TABLE credentials (
    access_key     TEXT PRIMARY KEY,
    user_id        UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed  BYTEA NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    description    TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL
);
CREATE INDEX credentials_user ON credentials(user_id);
