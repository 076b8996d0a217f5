//! `warden-bench`: runs every benchmark workload against the real `warden` binary and prints
//! the table. Normally started by `scripts/bench`, which builds the binaries first.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use warden_bench::orchestrate::procs::Launcher;
use warden_bench::orchestrate::report::{markdown_table, text_table};
use warden_bench::orchestrate::{Bench, Config, Part, Sizes};

#[derive(Parser, Debug)]
#[command(about = "Benchmarks Warden against baselines measured in the same run")]
struct Args {
    /// A short run on tiny data sets that checks every workload runs; times are not judged.
    #[arg(long)]
    smoke: bool,
    /// Seconds measured per workload [default: 8, or 0.5 with --smoke].
    #[arg(long, env = "BENCH_SECONDS")]
    seconds: Option<f64>,
    /// Seconds of warm-up before each measurement [default: 1.5, or 0.2 with --smoke].
    #[arg(long, env = "BENCH_WARMUP")]
    warmup: Option<f64>,
    /// Record each Warden workload with `perf record -g` into --out (flame graphs with inferno).
    #[arg(long, env = "BENCH_PROFILE")]
    profile: bool,
    /// Pin servers to core 0 and load generators to core 1.
    #[arg(long)]
    pin: bool,
    /// Where `warden` and the bench binaries are.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Where the table, results and profiles go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Scratch directory (data directories, specs, logs).
    #[arg(long)]
    work_dir: PathBuf,
    /// PostgreSQL server for the B4 rows (the benchmark creates and drops its own databases).
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Signing algorithm of the server and of the signature baseline.
    #[arg(long, env = "BENCH_SIGNING_ALG", default_value = "RS256")]
    signing_alg: String,
    /// Runs only these parts (repeatable): `sqlite` (B1–B3, B5–B9), `postgres` (B4),
    /// `keystone` (the comparison with an installed Keystone). All of them by default.
    #[arg(long, value_enum, env = "BENCH_ONLY", value_delimiter = ',')]
    only: Vec<Part>,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, Linux {kernel}")
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .context("no binary directory")?
            .to_path_buf(),
    };
    std::fs::create_dir_all(&args.out)?;
    std::fs::create_dir_all(&args.work_dir)?;
    let cfg = Config {
        launcher: Launcher {
            pin: args.pin,
            bin_dir,
        },
        out_dir: args.out.clone(),
        work_dir: args.work_dir,
        smoke: args.smoke,
        seconds: args.seconds.unwrap_or(if args.smoke { 0.5 } else { 8.0 }),
        warmup: args.warmup.unwrap_or(if args.smoke { 0.2 } else { 1.5 }),
        profile: args.profile,
        postgres_url: args.postgres_url,
        signing_alg: args.signing_alg,
        parts: if args.only.is_empty() {
            vec![Part::Sqlite, Part::Postgres, Part::Keystone]
        } else {
            args.only
        },
        sizes: if args.smoke {
            Sizes::smoke()
        } else {
            Sizes::full()
        },
    };
    println!("Machine: {}", machine());
    println!(
        "{}",
        if cfg.launcher.pin {
            "Pinning: servers and baselines on core 0, load generators on core 1."
        } else {
            "Pinning: off (one core): servers and load generators share it, so ratios are rough."
        }
    );
    println!(
        "Each workload: {:.1} s warm-up, {:.1} s measured{}.",
        cfg.warmup,
        cfg.seconds,
        if cfg.smoke {
            " (smoke run: times are not judged)"
        } else {
            ""
        }
    );
    if cfg.profile {
        println!("Profiling with perf: numbers include its overhead.");
    }
    let smoke = cfg.smoke;
    let mut bench = Bench::new(cfg);
    let outcome = bench.run();
    let rows = bench.rows();
    println!();
    print!("{}", text_table(rows));
    std::fs::write(args.out.join("table.md"), markdown_table(rows))?;
    std::fs::write(
        args.out.join("results.json"),
        serde_json::to_vec_pretty(rows)?,
    )?;
    println!();
    println!(
        "Written: {} and {}",
        args.out.join("table.md").display(),
        args.out.join("results.json").display()
    );
    outcome?;
    if smoke {
        println!("Smoke run: every workload ran.");
    }
    Ok(())
}
