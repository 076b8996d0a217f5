//! Bulk seeding straight into Warden's SQLite database, for data sets too large to create
//! through the API in a benchmark's time. Rows are copies of a template row that Warden itself
//! created, with only the identifying columns replaced, so every column holds what the server
//! would have written; the indexes (search ones included) are maintained by SQLite as usual.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::{params, Connection};

/// A UUID-shaped id for seeded row `n` (version 4 and variant bits set).
pub fn seeded_id(prefix: u32, n: u64) -> String {
    format!("{prefix:08x}-0000-4000-8000-{n:012x}")
}

pub const TENANT_PREFIX: u32 = 0x1000_0000;
pub const USER_PREFIX: u32 = 0x2000_0000;

fn open(db: &Path) -> Result<Connection> {
    let conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    // One big transaction; durability of the seed itself does not matter.
    conn.pragma_update(None, "synchronous", "OFF")?;
    Ok(conn)
}

fn columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(1))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}

/// `INSERT INTO table (every column) SELECT <override or tpl.column> FROM seq, table tpl`.
fn copy_sql(table: &str, columns: &[String], overrides: &HashMap<&str, String>) -> String {
    let exprs: Vec<String> = columns
        .iter()
        .map(|c| {
            overrides
                .get(c.as_str())
                .cloned()
                .unwrap_or_else(|| format!("tpl.{c}"))
        })
        .collect();
    format!(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?1) \
         INSERT INTO {table} ({}) SELECT {} FROM seq, {table} AS tpl WHERE tpl.id = ?2",
        columns.join(", "),
        exprs.join(", ")
    )
}

/// Adds `tenants` copies of the template tenant beside it, then `users` copies of the template
/// user spread evenly over them. Returns the time it took.
pub fn directory(
    db: &Path,
    template_tenant: &str,
    template_user: &str,
    tenants: u64,
    users: u64,
) -> Result<Duration> {
    let started = Instant::now();
    let mut conn = open(db)?;
    let tx = conn.transaction()?;
    let tenant_id = format!("printf('{TENANT_PREFIX:08x}-0000-4000-8000-%012x', n)");
    let mut t = HashMap::new();
    t.insert("id", tenant_id.clone());
    t.insert(
        "path",
        format!("substr(tpl.path, 1, length(tpl.path) - 37) || {tenant_id} || '/'"),
    );
    t.insert("name", "printf('bench tenant %05d', n)".to_owned());
    t.insert(
        "name_key",
        "CASE WHEN tpl.name_key IS NULL THEN NULL ELSE printf('bench tenant %05d', n) END"
            .to_owned(),
    );
    tx.execute(
        &copy_sql("tenants", &columns(&tx, "tenants")?, &t),
        params![tenants as i64, template_tenant],
    )?;
    let mut u = HashMap::new();
    u.insert(
        "id",
        format!("printf('{USER_PREFIX:08x}-0000-4000-8000-%012x', n)"),
    );
    u.insert(
        "tenant_id",
        format!("printf('{TENANT_PREFIX:08x}-0000-4000-8000-%012x', 1 + (n - 1) % {tenants})"),
    );
    u.insert("login", "printf('user%07d', n)".to_owned());
    u.insert("login_key", "printf('user%07d', n)".to_owned());
    u.insert("email", "printf('user%07d@example.com', n)".to_owned());
    u.insert("firstname", "'given' || ((n * 7919) % 1000)".to_owned());
    u.insert("lastname", "'family' || ((n * 104729) % 10000)".to_owned());
    tx.execute(
        &copy_sql("users", &columns(&tx, "users")?, &u),
        params![users as i64, template_user],
    )?;
    tx.execute(
        "UPDATE tenants SET has_children = 1 WHERE id = (SELECT parent_id FROM tenants WHERE id = ?1)",
        params![template_tenant],
    )?;
    tx.commit()?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(started.elapsed())
}

/// Adds `count` revoked token ids that expire an hour from now. Returns the time it took.
pub fn revocations(db: &Path, count: u64) -> Result<Duration> {
    let started = Instant::now();
    let mut conn = open(db)?;
    let expires_at = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as i64)
        + 3_600_000_000;
    let tx = conn.transaction()?;
    tx.execute(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?1) \
         INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) \
         SELECT printf('%032x', n * 2654435761), ?2 FROM seq",
        params![count as i64, expires_at],
    )?;
    tx.commit()?;
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(started.elapsed())
}
