//! Baselines measured outside the server, in the same run and with the same pinning:
//!
//! - `bench-baseline sqlite-update DB WRITERS WARMUP SECONDS`: a version-checked single-row
//!   UPDATE (`... version = version + 1 WHERE id = ? AND version = ?`) in autocommit, in a loop,
//!   on a user-sized row, with Warden's durability mode (WAL, `synchronous = FULL`). WRITERS
//!   writers take turns on one connection (SQLite has one writer at a time, and Warden one
//!   writer connection), each on a row of its own whose version it follows.
//! - `bench-baseline argon2 COUNT MEMORY_KIB ITERATIONS PARALLELISM`: the mean time of one
//!   Argon2id hash with those parameters, over COUNT hashes.
//!
//! Each prints `MEASURE_START`/`MEASURE_END` around the measured phase, then one JSON line.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rusqlite::{params, Connection};
use warden_bench::spec::BaselineResult;
use warden_bench::{MEASURE_END, MEASURE_START};

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> Result<T> {
    args.get(i)
        .with_context(|| format!("missing {name}"))?
        .parse()
        .map_err(|_| anyhow::anyhow!("bad {name}"))
}

fn sqlite_update(db: &str, writers: usize, warmup: f64, seconds: f64) -> Result<BaselineResult> {
    let conn = Connection::open(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(
        "DROP TABLE IF EXISTS t;
         CREATE TABLE t (id INTEGER PRIMARY KEY, login TEXT NOT NULL, email TEXT,
             firstname TEXT NOT NULL, lastname TEXT NOT NULL, address1 TEXT NOT NULL,
             city TEXT NOT NULL, country TEXT NOT NULL, notifications TEXT NOT NULL,
             version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);",
    )?;
    for id in 0..writers {
        conn.execute(
            "INSERT INTO t VALUES (?1, 'user' || ?1, 'user' || ?1 || '@example.com', 'First', 'Last',
                 'Street 1', 'City', 'DE', '[\"news\"]', 1, 0, 0)",
            params![id as i64],
        )?;
    }
    let mut update = conn.prepare(
        "UPDATE t SET firstname = ?1, updated_at = ?2, version = version + 1 \
         WHERE id = ?3 AND version = ?4",
    )?;
    let mut versions = vec![1i64; writers];
    let start = Instant::now();
    let measure_start = start + Duration::from_secs_f64(warmup);
    let measure_end = measure_start + Duration::from_secs_f64(seconds);
    let mut started = false;
    let mut completed: u64 = 0;
    let mut n: u64 = 0;
    loop {
        let now = Instant::now();
        if !started && now >= measure_start {
            started = true;
            say(MEASURE_START);
        }
        if now >= measure_end {
            break;
        }
        // The writers take turns, each on its own row with its own version.
        let id = (n % writers as u64) as usize;
        n += 1;
        let changed =
            update.execute(params![format!("X{n}"), n as i64, id as i64, versions[id]])?;
        if changed != 1 {
            bail!("version check failed");
        }
        versions[id] += 1;
        if started && Instant::now() <= measure_end {
            completed += 1;
        }
    }
    say(MEASURE_END);
    Ok(BaselineResult {
        completed,
        rate: completed as f64 / seconds,
        seconds,
        mean_ms: 0.0,
    })
}

fn argon2_hashes(
    count: u32,
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
) -> Result<BaselineResult> {
    let params = Params::new(memory_kib, iterations, lanes, None)
        .map_err(|e| anyhow::anyhow!("Argon2 parameters: {e}"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    // The working memory is allocated once and reused, as Warden's hashing threads do: the
    // floor is the hash itself, not the allocator.
    let mut memory = vec![Block::default(); argon.params().block_count()];
    let mut out = [0u8; 32];
    let salt = b"saltsaltsaltsalt";
    let mut hash = |password: &[u8]| {
        argon
            .hash_password_into_with_memory(password, salt, &mut out, &mut memory)
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    // One hash first, outside the measurement: it touches the memory's pages.
    hash(b"warm-up-password")?;
    say(MEASURE_START);
    let start = Instant::now();
    for i in 0..count {
        let password = format!("a-Strong-passw0rd-{i}");
        hash(password.as_bytes())?;
    }
    let seconds = start.elapsed().as_secs_f64();
    say(MEASURE_END);
    Ok(BaselineResult {
        completed: u64::from(count),
        rate: f64::from(count) / seconds,
        seconds,
        mean_ms: seconds * 1000.0 / f64::from(count),
    })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sqlite-update") => sqlite_update(
            args.get(1).context("missing DB")?,
            arg(&args, 2, "WRITERS")?,
            arg(&args, 3, "WARMUP")?,
            arg(&args, 4, "SECONDS")?,
        )?,
        Some("argon2") => argon2_hashes(
            arg(&args, 1, "COUNT")?,
            arg(&args, 2, "MEMORY_KIB")?,
            arg(&args, 3, "ITERATIONS")?,
            arg(&args, 4, "PARALLELISM")?,
        )?,
        _ => bail!(
            "usage: bench-baseline sqlite-update DB WRITERS WARMUP SECONDS | \
             bench-baseline argon2 COUNT MEMORY_KIB ITERATIONS PARALLELISM"
        ),
    };
    say(&serde_json::to_string(&result)?);
    Ok(())
}
