//! The change feed: every committed write to a table whose rows a node may cache leaves rows in
//! `change_log`, written by triggers in the writing transaction (`0017_change_feed.sql`,
//! `0019_change_log.sql`). Each node reads, on a connection of its own and every
//! [`READ_EVERY`], the rows of the transactions that ended since its last read, and makes what
//! they name stale in its read cache. While the connection is down the cache is dark, so a write
//! this node could not hear about is never hidden behind a cached answer.
//!
//! Which rows are new is told by transaction ids, not by insertion order: a transaction that
//! wrote its row earlier may commit later. Each read also takes the oldest transaction id
//! still running (`xmin` of its snapshot); every transaction below it has ended, and so the
//! next read asks for the rows of transactions from there on. Rows of transactions still
//! running then are read again later, and told apart by their ids: a row is applied once, so
//! the notice of a node's own change is still recognised as its own. A node also deletes the
//! rows of transactions that ended a minute ago or more; a node that has not read the log for
//! two seconds (a read held up by a lock or an overloaded database) treats the time as a gap:
//! its cache goes dark at once, and it starts afresh on a new connection ([`Timing`]).
//!
//! A write of another node is seen here within about [`READ_EVERY`] of its commit, while a
//! write transaction left open (a psql session, say) holds the cursor back: then each read
//! returns everything since, and past [`MAX_NAMED`] rows stales the whole cache. A connection
//! that dies without the socket closing (a cut network path) is noticed only by TCP; keep the
//! path between the nodes and the database reliable, as every read already assumes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use warden_domain::UserId;
use warden_store::read_cache::{ReadCache, Scope};

/// The feed's connection names itself so (`pg_stat_activity.application_name`).
pub(crate) const APPLICATION_NAME: &str = "warden-change-feed";

/// How often the log is read (see [`Timing`]).
pub(crate) const READ_EVERY: Duration = Duration::from_millis(10);

/// A read returning more rows than this stales everything rather than what each row names.
const MAX_NAMED: usize = 1000;

/// The feed's clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// How often the log is read.
    pub read_every: Duration,
    /// A node that has not read the log for this long starts afresh: rows it has not read may
    /// have been deleted by then. Well under `keep_ended`.
    pub gap_after: Duration,
    /// Rows of transactions that had ended this long ago are deleted.
    pub keep_ended: Duration,
    /// How often a node deletes old rows.
    pub prune_every: Duration,
}

impl Timing {
    pub(crate) const DEFAULT: Timing = Timing {
        read_every: READ_EVERY,
        gap_after: Duration::from_secs(2),
        keep_ended: Duration::from_secs(60),
        prune_every: Duration::from_secs(10),
    };
}

/// The first and the longest pause between attempts to connect the feed again.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Follows the feed for `cache` until the cache is dropped or the task aborted.
pub(crate) fn follow(
    options: PgConnectOptions,
    cache: &Arc<ReadCache>,
    timing: Timing,
) -> JoinHandle<()> {
    let cache = Arc::downgrade(cache);
    // A read held up past the gap is also cancelled by the database, so a stalled connection
    // given up here does not linger there.
    let statement_timeout = format!("{}ms", timing.gap_after.as_millis());
    let options = options
        .application_name(APPLICATION_NAME)
        .options([("statement_timeout", statement_timeout)]);
    tokio::spawn(async move {
        let mut pause = FIRST_PAUSE;
        loop {
            match PgConnection::connect_with(&options).await {
                Ok(mut conn) => {
                    pause = FIRST_PAUSE;
                    let lost = read_on(&mut conn, &cache, timing).await;
                    let Err(e) = lost else {
                        return;
                    };
                    tracing::warn!(error = %e, "the change feed was lost; reads skip the cache until it is back");
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

/// Why a feed connection was given up.
#[derive(Debug)]
enum Lost {
    Database(sqlx::Error),
    Gap(Duration),
}

impl From<sqlx::Error> for Lost {
    fn from(e: sqlx::Error) -> Self {
        Lost::Database(e)
    }
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lost::Database(e) => e.fmt(f),
            Lost::Gap(since) => write!(f, "the log was not read for {since:?}"),
        }
    }
}

/// Reads the log on `conn` until the cache is gone (`Ok`) or the feed is lost.
async fn read_on(
    conn: &mut PgConnection,
    cache: &Weak<ReadCache>,
    timing: Timing,
) -> Result<(), Lost> {
    // Everything that ends from now on is read; the cache is lit (and emptied) after that
    // starting point is known.
    let (mut cursor, _) = read(conn, i64::MAX, timing.gap_after).await?;
    if !tell(cache, |c| c.set_lit(true)) {
        return Ok(());
    }
    let mut last_read = Instant::now();
    // The rows applied that may be read again (their transactions are not below the cursor),
    // by id, with their transaction ids.
    let mut applied: HashMap<i64, i64> = HashMap::new();
    // Cursors taken about a second apart, oldest first: deleting below one taken
    // `keep_ended` ago removes only rows every live node has read.
    let mut cursors: VecDeque<(Instant, i64)> = VecDeque::from([(last_read, cursor)]);
    let mut pruned = last_read;
    let mut ticks = tokio::time::interval(timing.read_every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // A read held up (a lock, an overloaded database) may not leave the cache lit: what
        // it would have told is unknown until it ends.
        let (next, rows) = read(conn, cursor, timing.gap_after).await?;
        let since = last_read.elapsed();
        if since > timing.gap_after {
            return Err(Lost::Gap(since));
        }
        let fresh: Vec<&LogRow> = rows
            .iter()
            .filter(|row| applied.insert(row.id, row.xid).is_none())
            .collect();
        let everything = rows.len() > MAX_NAMED;
        if !tell(cache, |c| apply(c, &fresh, everything)) {
            return Ok(());
        }
        applied.retain(|_, xid| *xid >= next);
        cursor = next;
        last_read = Instant::now();
        if cursors
            .back()
            .is_none_or(|(at, _)| at.elapsed() >= timing.keep_ended / 60)
        {
            cursors.push_back((last_read, cursor));
        }
        if pruned.elapsed() >= timing.prune_every {
            let mut below = None;
            while let Some(&(at, oldest)) = cursors.front() {
                if at.elapsed() < timing.keep_ended {
                    break;
                }
                below = Some(oldest);
                cursors.pop_front();
            }
            if let Some(below) = below {
                sqlx::query("DELETE FROM change_log WHERE xid < $1")
                    .bind(below)
                    .execute(&mut *conn)
                    .await?;
            }
            pruned = Instant::now();
        }
    }
}

/// A row of `change_log`.
struct LogRow {
    id: i64,
    xid: i64,
    payload: String,
}

/// The oldest transaction still running, and the rows written by transactions from `cursor`
/// on (at most one more than [`MAX_NAMED`]), in one snapshot; a read not done `within` is a
/// gap (the connection is then dropped, which ends the statement).
async fn read(
    conn: &mut PgConnection,
    cursor: i64,
    within: Duration,
) -> Result<(i64, Vec<LogRow>), Lost> {
    let rows = sqlx::query(
        "SELECT x.oldest, c.id, c.xid, c.payload \
         FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS oldest) x \
         LEFT JOIN LATERAL (SELECT id, xid, payload FROM change_log WHERE xid >= $1 LIMIT $2) c \
         ON TRUE",
    )
    .bind(cursor)
    .bind(i64::try_from(MAX_NAMED + 1).unwrap_or(i64::MAX))
    .fetch_all(conn);
    let rows = tokio::time::timeout(within, rows)
        .await
        .map_err(|_| Lost::Gap(within))??;
    let mut oldest = cursor;
    let mut read = Vec::with_capacity(rows.len());
    for row in &rows {
        oldest = row.try_get(0)?;
        let id: Option<i64> = row.try_get(1)?;
        if let Some(id) = id {
            read.push(LogRow {
                id,
                xid: row.try_get(2)?,
                payload: row.try_get(3)?,
            });
        }
    }
    Ok((oldest, read))
}

/// Makes stale what `rows` name, or everything.
fn apply(cache: &ReadCache, rows: &[&LogRow], everything: bool) {
    if everything {
        cache.changed_elsewhere(None);
        return;
    }
    for row in rows {
        notice_of(&row.payload).apply(cache);
    }
}

/// What a row of the log says changed.
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
