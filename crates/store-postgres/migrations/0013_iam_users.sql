-- What the IAM face records about a user beyond the shared model: whether the password must
-- be changed at the next console login, how the user may reach the cloud, and their identity in
-- an external system. The external identity is both columns or neither, and no two users share
-- one (NULLs never collide in a unique index).
ALTER TABLE users ADD COLUMN pwd_status BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN access_mode TEXT NOT NULL DEFAULT 'default'
    CHECK (access_mode IN ('default', 'programmatic', 'console'));
ALTER TABLE users ADD COLUMN xuser_type TEXT;
ALTER TABLE users ADD COLUMN xuser_id TEXT;
ALTER TABLE users ADD CONSTRAINT users_xuser_pair
    CHECK ((xuser_type IS NULL) = (xuser_id IS NULL));
CREATE UNIQUE INDEX users_xuser ON users (xuser_type, xuser_id);
