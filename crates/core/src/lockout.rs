//! Throttling of password guessing per account. Failures are counted in the store (so every
//! node sees them) within a one-hour window. After a few free failures each further one makes
//! the account wait exponentially longer before the next attempt, up to a cap; at the hourly
//! maximum it waits until the window ends. While an account waits, every password attempt —
//! even the right password — is answered exactly like a wrong one, so the lock reveals nothing.
//!
//! Threat note: the lock is always temporary (at most until the window ends), so an attacker
//! cannot lock a user out for good; they can only slow password logins of that account. Tokens
//! already issued keep working, and an administrator can unlock at once.

use warden_domain::{DomainError, Resource, Timestamp, UserId};
use warden_store::LoginFailures;

use crate::auth::Principal;
use crate::{store_error, store_error_for, Warden};

#[derive(Clone, Copy, Debug)]
pub struct LockoutPolicy {
    pub window_seconds: i64,
    /// Failures allowed without any wait.
    pub free_failures: i64,
    /// Failures per window after which the account waits until the window ends.
    pub max_failures: i64,
    /// The longest wait between attempts below the maximum.
    pub max_delay_seconds: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            window_seconds: 3600,
            free_failures: 5,
            max_failures: 100,
            max_delay_seconds: 900,
        }
    }
}

impl LockoutPolicy {
    /// Until when the account refuses password attempts, or `None` if it takes them now.
    pub fn locked_until(&self, failures: &LoginFailures, now: Timestamp) -> Option<Timestamp> {
        let window_end = failures.window_start.plus_seconds(self.window_seconds);
        if failures.count == 0 || window_end <= now {
            return None;
        }
        let until = if failures.count >= self.max_failures {
            window_end
        } else if failures.count >= self.free_failures {
            let exponent = (failures.count - self.free_failures).min(20) as u32;
            let delay = 2i64.saturating_pow(exponent).min(self.max_delay_seconds);
            failures.last.plus_seconds(delay)
        } else {
            return None;
        };
        (until > now).then_some(until)
    }
}

impl Warden {
    /// Records a failed attempt; a failure to record is logged, never turned into another answer.
    pub(crate) async fn note_login_failure(&self, id: UserId, before: &LoginFailures) {
        let now = self.clock.now();
        let policy = self.settings.lockout;
        if let Err(e) = self
            .store
            .record_login_failure(id, now, policy.window_seconds)
            .await
        {
            tracing::warn!(error = %e, "recording a failed login failed");
            return;
        }
        let in_window = before.window_start.plus_seconds(policy.window_seconds) > now;
        let count = if in_window { before.count + 1 } else { 1 };
        if count == policy.free_failures || count == policy.max_failures {
            tracing::warn!(
                target: "audit",
                action = "login_throttled",
                user_id = %id,
                failures = count,
                "password attempts on this account are now throttled"
            );
        }
    }

    /// `POST /api/2/users/{id}/unlock`: an administrator ends a lockout at once.
    pub async fn unlock_user(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<(), DomainError> {
        let id = UserId::parse(raw_id).ok_or(DomainError::NotFound(Resource::User))?;
        let user = self
            .store
            .get_user(id)
            .await
            .map_err(store_error_for(Resource::User))?;
        if !principal.can_manage(&self.tenant(user.tenant_id).await?) {
            return Err(DomainError::Forbidden);
        }
        self.store
            .clear_login_failures(id)
            .await
            .map_err(store_error)?;
        tracing::info!(target: "audit", action = "login_unlocked", user_id = %id, "password lockout cleared");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(seconds * 1_000_000)
    }

    #[test]
    fn waits_grow_exponentially_after_the_free_failures_and_end_with_the_window() {
        let policy = LockoutPolicy::default();
        let failures = |count, last| LoginFailures {
            count,
            window_start: at(1000),
            last: at(last),
        };
        assert_eq!(policy.locked_until(&failures(4, 1010), at(1010)), None);
        assert_eq!(
            policy.locked_until(&failures(5, 1010), at(1010)),
            Some(at(1011))
        );
        assert_eq!(
            policy.locked_until(&failures(8, 1010), at(1010)),
            Some(at(1018))
        );
        assert_eq!(policy.locked_until(&failures(8, 1010), at(1018)), None);
        assert_eq!(
            policy.locked_until(&failures(40, 1010), at(1010)),
            Some(at(1910))
        );
        assert_eq!(
            policy.locked_until(&failures(100, 1010), at(1010)),
            Some(at(4600))
        );
        // Never longer than the window: the account is free again when it ends.
        assert_eq!(policy.locked_until(&failures(100, 1010), at(4600)), None);
        assert_eq!(policy.locked_until(&failures(1000, 4599), at(4600)), None);
    }
}
