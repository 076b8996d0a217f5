-- API clients: the password-grant flag, secret rotation with a grace period, and the
-- registration access token (kept only as a hash, like the secret).
ALTER TABLE api_clients ADD COLUMN allow_password_grant BOOLEAN NOT NULL DEFAULT FALSE;
-- Until now only first start created clients, and they could always use the password grant.
UPDATE api_clients SET allow_password_grant = TRUE;
ALTER TABLE api_clients ADD COLUMN previous_secret_sha256 TEXT;
ALTER TABLE api_clients ADD COLUMN previous_secret_expires_at BIGINT;
ALTER TABLE api_clients ADD COLUMN registration_token_sha256 TEXT;

-- Refresh tokens, stored as SHA-256 of the opaque value. A family is every token rotated from
-- one password grant; reusing a spent token revokes the whole family. No foreign keys: a
-- token whose user or client is gone simply stops working, and deletes elsewhere need not
-- know about this table.
CREATE TABLE refresh_tokens (
    token_sha256  TEXT PRIMARY KEY,
    family_id     UUID NOT NULL,
    user_id       UUID NOT NULL,
    client_id     UUID,
    auth_time     BIGINT NOT NULL,
    issued_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    revoked       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens(client_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
