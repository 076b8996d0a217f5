//! Throttling of password guessing, per account and per source address.
//!
//! Per account, failures are counted in the store (so every node sees them) within a one-hour
//! window. After a few free failures each further one makes
//! the account wait exponentially longer before the next attempt, up to a cap; at the hourly
//! maximum it waits until the window ends. While an account waits, every password attempt —
//! even the right password — is answered exactly like a wrong one, so the lock reveals nothing.
//!
//! Per source, each node counts the failures of every client address (an IPv6 address by its
//! /64, which one subscriber usually holds whole) in memory, whichever account they named —
//! unknown ones included — so one client spraying passwords over many accounts is slowed too.
//! A throttled source is answered like a wrong password at once, without spending a hash.
//!
//! Threat note: the lock is always temporary (at most until the window ends), so an attacker
//! cannot lock a user out for good; they can only slow password logins of that account. Tokens
//! already issued keep working, and an administrator can unlock at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use warden_domain::{DomainError, Resource, Timestamp, UserId};
use warden_store::LoginFailures;

use crate::auth::Principal;
use crate::{store_error_for, Warden};

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
    /// The default per source address: generous enough for an office behind one address, and
    /// still a wall for a guesser — 30 free failures an hour, waits doubling up to 15 minutes,
    /// and at 1000 failures a wait until the hour ends.
    pub fn per_source() -> Self {
        Self {
            window_seconds: 3600,
            free_failures: 30,
            max_failures: 1000,
            max_delay_seconds: 900,
        }
    }

    /// `failures` with one more at `now`, opening a new window when the current one has passed.
    pub fn count_failure(&self, failures: &LoginFailures, now: Timestamp) -> LoginFailures {
        let in_window =
            failures.count > 0 && failures.window_start.plus_seconds(self.window_seconds) > now;
        if in_window {
            LoginFailures {
                count: failures.count + 1,
                window_start: failures.window_start,
                last: now,
            }
        } else {
            LoginFailures {
                count: 1,
                window_start: now,
                last: now,
            }
        }
    }

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

/// Password checks of each account running on this node. Every check counts a failure in the
/// store while its hash is verified and takes it back if the password was right, so until
/// they end, the failures of running checks are not known to be failures.
#[derive(Default)]
pub struct PendingChecks {
    running: Mutex<HashMap<UserId, i64>>,
}

/// One running check; it ends when dropped.
pub struct PendingCheck<'a> {
    checks: &'a PendingChecks,
    user: UserId,
    /// How many checks of the account were running when this one began.
    pub running_before: i64,
}

impl PendingChecks {
    pub fn begin(&self, user: UserId) -> PendingCheck<'_> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let count = running.entry(user).or_insert(0);
        let running_before = *count;
        *count += 1;
        PendingCheck {
            checks: self,
            user,
            running_before,
        }
    }
}

impl Drop for PendingCheck<'_> {
    fn drop(&mut self) {
        let mut running = self
            .checks
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = running.get_mut(&self.user) {
            *count -= 1;
            if *count <= 0 {
                running.remove(&self.user);
            }
        }
    }
}

/// Failed password attempts per source address, on this node, for at most `capacity` sources.
pub struct SourceThrottle {
    policy: LockoutPolicy,
    capacity: usize,
    sources: Mutex<HashMap<IpAddr, LoginFailures>>,
}

impl SourceThrottle {
    pub fn new(policy: LockoutPolicy, capacity: usize) -> Self {
        Self {
            policy,
            capacity: capacity.max(1),
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// The key of an address: IPv4 as is, IPv6 by its /64.
    fn key(source: IpAddr) -> IpAddr {
        match source {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(bits.into())
                }
            },
        }
    }

    /// Until when `source` is refused password attempts, if it is.
    pub fn locked_until(&self, source: IpAddr, now: Timestamp) -> Option<Timestamp> {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let failures = sources.get(&Self::key(source))?;
        self.policy.locked_until(failures, now)
    }

    /// Counts a failure of `source`; returns its count in the current window.
    pub fn record_failure(&self, source: IpAddr, now: Timestamp) -> i64 {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let key = Self::key(source);
        if !sources.contains_key(&key) && sources.len() >= self.capacity {
            // Full: forget the sources whose window has passed; if that frees too little, the
            // oldest tenth of the windows goes in one pass, so a flood of new addresses costs
            // one scan per tenth of the table, not one per address.
            let window = self.policy.window_seconds;
            sources.retain(|_, f| f.window_start.plus_seconds(window) > now);
            if sources.len() >= self.capacity {
                let mut starts: Vec<Timestamp> = sources.values().map(|f| f.window_start).collect();
                let cut = starts.len() / 10;
                let (_, &mut oldest_kept, _) = starts.select_nth_unstable(cut);
                sources.retain(|_, f| f.window_start >= oldest_kept);
                // Ties at the cut all stay; drop them too if they alone fill the table.
                if sources.len() >= self.capacity {
                    sources.retain(|_, f| f.window_start > oldest_kept);
                }
            }
        }
        let next = self
            .policy
            .count_failure(&sources.get(&key).copied().unwrap_or_default(), now);
        sources.insert(key, next);
        next.count
    }

    /// Forgets every source's failures (an administrator's unlock of all sources).
    pub fn clear(&self) {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Warden {
    /// Whether the source of the request being served may not try a password now.
    pub(crate) fn source_locked(&self) -> bool {
        crate::request::current_source().is_some_and(|source| {
            self.sources
                .locked_until(source, self.clock.now())
                .is_some()
        })
    }

    /// Counts a failed password attempt against the source of the request being served.
    pub(crate) fn note_source_failure(&self) {
        let Some(source) = crate::request::current_source() else {
            return;
        };
        let count = self.sources.record_failure(source, self.clock.now());
        let policy = self.settings.source_lockout;
        if count == policy.free_failures || count == policy.max_failures {
            tracing::warn!(
                target: "audit",
                action = "source_throttled",
                source = %source,
                failures = count,
                "password attempts from this address are now throttled"
            );
        }
    }

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
        if !principal.can_manage(&*self.tenant(user.tenant_id).await?) {
            return Err(DomainError::Forbidden);
        }
        self.store
            .unlock_user(id, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::User))?;
        tracing::info!(target: "audit", action = "login_unlocked", user_id = %id, "password lockout cleared");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_counts_only_the_checks_of_the_same_account_running_before_it() {
        let checks = PendingChecks::default();
        let (alice, bob) = (UserId::new_random(), UserId::new_random());
        let first = checks.begin(alice);
        assert_eq!(first.running_before, 0);
        let second = checks.begin(alice);
        assert_eq!(second.running_before, 1);
        assert_eq!(checks.begin(bob).running_before, 0);
        drop(first);
        drop(second);
        assert_eq!(checks.begin(alice).running_before, 0);
    }

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

    #[test]
    fn the_source_table_stays_within_its_bound_and_keeps_the_newest() {
        let throttle = SourceThrottle::new(LockoutPolicy::per_source(), 100);
        for i in 0..10_000u32 {
            let source = IpAddr::from(i.to_be_bytes());
            throttle.record_failure(source, at(i64::from(i)));
        }
        let len = throttle.sources.lock().unwrap().len();
        assert!(len <= 100, "{len}");
        let newest = IpAddr::from(9_999u32.to_be_bytes());
        assert_eq!(throttle.record_failure(newest, at(10_000)), 2);
    }

    #[test]
    fn ipv6_sources_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| SourceThrottle::key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
    }
}
