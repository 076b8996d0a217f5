//! The change feed: one connection per node listening on the channel the migration's triggers
//! notify at every committed write (`0017_change_feed.sql`). Each notification makes the
//! node's read cache stale; while the connection is down the cache is dark, so a write this
//! node could not hear about is never hidden behind a cached answer.
//!
//! A write of another node is seen here once PostgreSQL has delivered its notification, well
//! under a millisecond after its commit on a healthy connection; until then that node's
//! change may be missing from this node's cached reads. A connection that dies without the
//! socket closing (a cut network path) is noticed only by TCP; keep the path between the
//! nodes and the database reliable, as every read already assumes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::task::JoinHandle;
use warden_domain::UserId;
use warden_store::read_cache::{ReadCache, Scope};

/// The channel the triggers notify.
const CHANNEL: &str = "warden_changes";

/// The first and the longest pause between attempts to connect the feed again.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Follows the feed for `cache` until the cache is dropped or the task aborted.
pub(crate) fn follow(options: PgConnectOptions, cache: &Arc<ReadCache>) -> JoinHandle<()> {
    let cache = Arc::downgrade(cache);
    tokio::spawn(async move {
        let mut pause = FIRST_PAUSE;
        loop {
            match listen(&options).await {
                Ok(mut listener) => {
                    if !tell(&cache, |c| c.set_lit(true)) {
                        return;
                    }
                    pause = FIRST_PAUSE;
                    // `None` is a lost connection; an error, one that cannot be used.
                    while let Ok(Some(note)) = listener.try_recv().await {
                        if !tell(&cache, |c| notice_of(note.payload()).apply(c)) {
                            return;
                        }
                    }
                    tracing::warn!(
                        "the change feed was lost; reads skip the cache until it is back"
                    );
                    if !tell(&cache, |c| c.set_lit(false)) {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the change feed cannot connect; reads skip the cache");
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    })
}

/// A listener on a connection of its own (not one of the request pool's), subscribed.
async fn listen(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    // A lost connection is told as `None` and reconnected by the next attempt here, never
    // silently inside the listener: the cache must know about the gap.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// What a notification says changed.
#[derive(Debug, PartialEq)]
enum Notice<'a> {
    /// One user's row (`u:<id>`), moved to a new version (`u:<id>:<version>`).
    User(UserId, Option<i64>),
    /// One revocation (`r:<jti>`).
    Revocation(&'a str),
    /// Anything (an empty or unknown payload).
    Anything,
}

impl Notice<'_> {
    fn apply(&self, cache: &ReadCache) {
        match *self {
            Notice::User(id, version) => cache.user_changed(id, version),
            Notice::Revocation(jti) => cache.changed_elsewhere(Some(Scope::Token(jti))),
            Notice::Anything => cache.changed_elsewhere(None),
        }
    }
}

fn notice_of(payload: &str) -> Notice<'_> {
    if let Some(user) = payload.strip_prefix("u:") {
        let (id, version) = match user.split_once(':') {
            Some((id, version)) => (id, version.parse().ok()),
            None => (user, None),
        };
        return UserId::parse(id).map_or(Notice::Anything, |id| Notice::User(id, version));
    }
    payload
        .strip_prefix("r:")
        .map_or(Notice::Anything, Notice::Revocation)
}

/// Runs `what` on the cache if the store still holds it; `false` once it is gone.
fn tell(cache: &Weak<ReadCache>, what: impl FnOnce(&ReadCache)) -> bool {
    match cache.upgrade() {
        Some(cache) => {
            what(&cache);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_a_user_a_revocation_or_anything() {
        let id = UserId::new_random();
        assert_eq!(notice_of(&format!("u:{id}")), Notice::User(id, None));
        assert_eq!(notice_of(&format!("u:{id}:7")), Notice::User(id, Some(7)));
        assert_eq!(notice_of(&format!("u:{id}:x")), Notice::User(id, None));
        assert_eq!(notice_of("r:abc"), Notice::Revocation("abc"));
        assert_eq!(notice_of(""), Notice::Anything);
        assert_eq!(notice_of("u:not-a-uuid"), Notice::Anything);
        assert_eq!(notice_of("u:not-a-uuid:3"), Notice::Anything);
        assert_eq!(notice_of("x:1"), Notice::Anything);
    }
}
