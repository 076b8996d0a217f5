-- Tokens of an API client issued before this instant (microseconds) are no longer accepted:
-- set when its secret is rotated without a grace period, as after a leak.
ALTER TABLE api_clients ADD COLUMN tokens_not_before INTEGER NOT NULL DEFAULT 0;
