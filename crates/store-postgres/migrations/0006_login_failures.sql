-- Failed password attempts per account, for throttling: how many in the current window, when
-- the window opened and when the last one happened (microseconds since the epoch).
ALTER TABLE users ADD COLUMN login_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN login_window_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN login_last_failure BIGINT NOT NULL DEFAULT 0;
