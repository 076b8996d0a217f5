//! The whole benchmark: starts the servers and baselines, runs every workload, builds the table.

pub mod api;
pub mod keystone;
pub mod procs;
pub mod report;
pub mod seed;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::spec::{BaselineResult, LoadResult, LoadSpec, Pick, RequestSpec};
use api::{Api, BenchUser};
use procs::{measure, Core, Launcher, Measured, Profiler, Server};
use report::{fmt_mb, fmt_rate, fmt_us, Row, Verdict};

/// How much data and how many connections.
#[derive(Clone, Debug)]
pub struct Sizes {
    pub tenants: u64,
    pub users: u64,
    pub revocations: u64,
    pub password_users: usize,
    pub writers: usize,
    pub connections: usize,
    pub password_connections: usize,
    pub storm_connections: usize,
    pub hash_samples: u32,
    pub pgbench_scale: u32,
    pub pg_clients: Vec<usize>,
}

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            tenants: 10_000,
            users: 1_000_000,
            revocations: 100_000,
            password_users: 50,
            writers: 8,
            connections: 64,
            password_connections: 8,
            storm_connections: 256,
            hash_samples: 20,
            pgbench_scale: 10,
            pg_clients: vec![8, 32],
        }
    }

    pub fn smoke() -> Sizes {
        Sizes {
            tenants: 10,
            users: 1_000,
            revocations: 1_000,
            password_users: 6,
            writers: 4,
            connections: 16,
            password_connections: 4,
            storm_connections: 64,
            hash_samples: 2,
            pgbench_scale: 1,
            pg_clients: vec![8, 32],
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub launcher: Launcher,
    /// Where the table, the results and profiles go (`target/bench`).
    pub out_dir: PathBuf,
    /// Scratch space for data directories and specs; removed by the caller.
    pub work_dir: PathBuf,
    pub smoke: bool,
    pub seconds: f64,
    pub warmup: f64,
    pub profile: bool,
    /// A PostgreSQL URL whose server gets the benchmark's databases.
    pub postgres_url: String,
    pub signing_alg: String,
    /// The parts of the benchmark to run.
    pub parts: Vec<Part>,
    pub sizes: Sizes,
}

/// A part of the benchmark that runs on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// Every row on the embedded store: B1–B3 and B5–B9.
    Sqlite,
    /// B4, on PostgreSQL.
    Postgres,
    /// The comparison with an installed Keystone.
    Keystone,
}

const CLIENT_ID: &str = "0b5e1c1a-5d7e-4c3b-9a41-6f2f8e0d9c10";
const CLIENT_SECRET: &str = "bench-client-secret-0123456789abcdef";
const ADMIN_PASSWORD: &str = "bench-Admin-passw0rd";
/// The shortest measured phase of the Keystone comparison, smoke runs included.
const KEYSTONE_MIN_SECONDS: f64 = 5.0;
const USER_PASSWORD: &str = "a-Strong-passw0rd";
/// Argon2id as Warden uses it by default.
const HASH_MEMORY_KIB: u32 = 19_456;
const HASH_ITERATIONS: u32 = 2;

pub struct Bench {
    cfg: Config,
    rows: Vec<Row>,
    specs: usize,
}

/// Progress goes to stderr; the table to stdout.
fn progress(message: &str) {
    eprintln!("bench: {message}");
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

fn form_escape(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

impl Bench {
    pub fn new(cfg: Config) -> Bench {
        Bench {
            cfg,
            rows: Vec::new(),
            specs: 0,
        }
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Cores the server may run on: one when pinned.
    fn server_cores(&self) -> usize {
        if self.cfg.launcher.pin {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    fn warden_env(&self, data_dir: &Path) -> Vec<(String, String)> {
        vec![
            header("WARDEN_DATA_DIR", &data_dir.display().to_string()),
            header("WARDEN_BOOTSTRAP_CLIENT_ID", CLIENT_ID),
            header("WARDEN_BOOTSTRAP_CLIENT_SECRET", CLIENT_SECRET),
            header("WARDEN_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
            header("WARDEN_SIGNING_ALG", &self.cfg.signing_alg),
        ]
    }

    fn start_warden(
        &self,
        data_dir: &Path,
        extra: &[(String, String)],
        name: &str,
    ) -> Result<Server> {
        std::fs::create_dir_all(data_dir)?;
        let mut env = self.warden_env(data_dir);
        env.extend_from_slice(extra);
        let log = self.cfg.work_dir.join(format!("{name}.log"));
        let server = Server::warden(&self.cfg.launcher, &env, &log)?;
        progress(&format!(
            "warden ({name}) listening on {} (pid {})",
            server.addr, server.pid
        ));
        Ok(server)
    }

    fn spec(
        &self,
        server: &Server,
        connections: usize,
        rate: Option<f64>,
        pick: Pick,
        requests: Vec<RequestSpec>,
        initial_versions: Option<Vec<i64>>,
    ) -> LoadSpec {
        LoadSpec {
            addr: server.addr.clone(),
            connections,
            warmup_seconds: self.cfg.warmup,
            seconds: self.cfg.seconds,
            rate,
            pick,
            requests,
            initial_versions,
        }
    }

    /// Runs the load generator against `server`; `profile_as` names the flame graph when
    /// profiling.
    fn load(
        &mut self,
        server: &Server,
        spec: &LoadSpec,
        profile_as: Option<&str>,
    ) -> Result<(LoadResult, Measured)> {
        self.specs += 1;
        let path = self.cfg.work_dir.join(format!("spec-{}.json", self.specs));
        std::fs::write(&path, serde_json::to_vec(spec)?)?;
        let mut cmd = self
            .cfg
            .launcher
            .command(Core::Client, self.cfg.launcher.bin("bench-load"));
        cmd.arg(&path);
        let profiler = match profile_as {
            Some(name) if self.cfg.profile => Some(Profiler {
                out: self.cfg.out_dir.join(format!("{name}.perf.data")),
            }),
            _ => None,
        };
        let measured = measure(cmd, Some(server.pid), profiler.as_ref())?;
        if let Some(p) = &profiler {
            flame_graph(&p.out);
        }
        let result: LoadResult = serde_json::from_str(&measured.json)
            .with_context(|| format!("load generator output: {}", measured.json))?;
        if result.completed == 0 {
            progress(&format!("no request completed against {}", server.addr));
        }
        Ok((result, measured))
    }

    /// Runs a baseline process that is itself the measured server.
    fn baseline(&self, args: &[String]) -> Result<(BaselineResult, Option<f64>)> {
        let mut cmd = self
            .cfg
            .launcher
            .command(Core::Server, self.cfg.launcher.bin("bench-baseline"));
        cmd.args(args);
        // The process under measurement is the baseline itself: sample it through a wrapper
        // that spawns first and reports its own pid.
        let measured = measure_self(cmd)?;
        let result: BaselineResult = serde_json::from_str(&measured.json)
            .with_context(|| format!("baseline output: {}", measured.json))?;
        Ok((result, measured.server_cpu_seconds))
    }

    /// The mean time of one Argon2id hash with Warden's default parameters.
    fn argon2_baseline(&self) -> Result<BaselineResult> {
        let (hash, _) = self.baseline(&[
            "argon2".into(),
            self.cfg.sizes.hash_samples.to_string(),
            HASH_MEMORY_KIB.to_string(),
            HASH_ITERATIONS.to_string(),
            "1".into(),
        ])?;
        Ok(hash)
    }

    fn row(&self, id: &str, workload: &str, r: &LoadResult, m: &Measured) -> Row {
        let mut row = Row::new(id, workload);
        row.rate = Some(r.ok() as f64 / r.seconds);
        row.p50_us = Some(r.latency.p50_us);
        row.p99_us = Some(r.latency.p99_us);
        row.cpu_us = cpu_us(r, m);
        row.note = non_2xx(r);
        row
    }

    fn push_ratio(&mut self, mut row: Row, baseline_rate: f64, baseline: &str, min: f64) {
        let rate = row.rate.unwrap_or(0.0);
        let ratio = rate / baseline_rate.max(f64::MIN_POSITIVE);
        row.baseline = format!("{} ({baseline})", fmt_rate(baseline_rate));
        row.ratio = format!("{:.0} %", ratio * 100.0);
        row.target = format!("≥ {:.0} %", min * 100.0);
        row.verdict = Verdict::of(ratio >= min);
        self.rows.push(row);
    }

    /// Every workload, in order; the rows are kept even if a later part fails.
    pub fn run(&mut self) -> Result<()> {
        if self.cfg.parts.contains(&Part::Sqlite) {
            self.sqlite_part()?;
        }
        if self.cfg.parts.contains(&Part::Postgres) {
            self.postgres_part()?;
        }
        if self.cfg.parts.contains(&Part::Keystone) {
            self.keystone_comparison()?;
        }
        Ok(())
    }

    fn sqlite_part(&mut self) -> Result<()> {
        let sizes = self.cfg.sizes.clone();
        let data_dir = self.cfg.work_dir.join("sqlite");
        let mut server = self.start_warden(&data_dir, &[], "sqlite")?;
        std::thread::sleep(Duration::from_secs(1));
        let idle_rss = server.rss()?;
        let mut idle = Row::new("B8", "idle RSS after start (SQLite)");
        idle.baseline = fmt_mb(idle_rss);
        idle.target = "≤ 50 MB".into();
        idle.verdict = Verdict::of(idle_rss <= 50_000_000);
        self.rows.push(idle);

        let api = Api::connect(&server.addr, CLIENT_ID, CLIENT_SECRET)?;
        let root = api.own_tenant()?;
        progress(&format!(
            "creating {} users with passwords and {} writers",
            sizes.password_users, sizes.writers
        ));
        let mut people: Vec<BenchUser> = Vec::new();
        for i in 0..sizes.password_users {
            let user = api.create_user(&root, &format!("bench-login-{i:03}"))?;
            api.set_password(&user, USER_PASSWORD)?;
            people.push(user);
        }
        let writers: Vec<BenchUser> = (0..sizes.writers)
            .map(|i| api.create_user(&root, &format!("bench-writer-{i:03}")))
            .collect::<Result<_>>()?;
        let template_tenant = api.create_tenant(&root, "bench template")?;
        let template_user = api.create_user(&template_tenant, "bench-template")?;

        // B1: authenticated GET of a user, one warm token.
        let bearer = format!("Bearer {}", api.token);
        let gets: Vec<RequestSpec> = people
            .iter()
            .map(|u| get(&format!("/api/2/users/{}", u.id), &bearer))
            .collect();
        api.check_get(&format!("/users/{}", people[0].id))?;
        progress("B1: GET /api/2/users/{id}");
        let spec = self.spec(
            &server,
            sizes.connections,
            None,
            Pick::RoundRobin,
            gets.clone(),
            None,
        );
        let (b1, b1m) = self.load(&server, &spec, Some("B1"))?;

        // B2: client_credentials.
        let token_request = RequestSpec {
            method: "POST".into(),
            path: "/api/2/idp/token".into(),
            headers: vec![
                header("authorization", &basic(CLIENT_ID, CLIENT_SECRET)),
                header("content-type", "application/x-www-form-urlencoded"),
            ],
            body: Some("grant_type=client_credentials".into()),
        };
        progress("B2: client_credentials");
        let spec = self.spec(
            &server,
            sizes.connections,
            None,
            Pick::RoundRobin,
            vec![token_request.clone()],
            None,
        );
        let (b2, b2m) = self.load(&server, &spec, Some("B2"))?;

        // Their baselines: hello world, and hello world plus one signature.
        let (hello, sign) = {
            let hello_server = Server::hello(&self.cfg.launcher, &self.cfg.signing_alg)?;
            progress("baseline: hello world");
            let spec = self.spec(
                &hello_server,
                sizes.connections,
                None,
                Pick::RoundRobin,
                vec![get("/hello", &bearer)],
                None,
            );
            let hello = self.load(&hello_server, &spec, None)?;
            progress("baseline: hello world + one signature");
            let mut sign_request = token_request.clone();
            sign_request.path = "/sign".into();
            let spec = self.spec(
                &hello_server,
                sizes.connections,
                None,
                Pick::RoundRobin,
                vec![sign_request],
                None,
            );
            let sign = self.load(&hello_server, &spec, None)?;
            (hello, sign)
        };
        let mut row = self.row(
            "B1",
            "GET /api/2/users/{id}, bearer token (SQLite)",
            &b1,
            &b1m,
        );
        row.note = join_notes(
            &row.note,
            &format!("hello: {} µs CPU/req", cpu_text(&hello)),
        );
        self.push_ratio(row, hello.0.rate, "hello world", 0.50);
        let mut row = self.row("B2", "client_credentials token", &b2, &b2m);
        row.note = join_notes(
            &row.note,
            &format!(
                "hello+{}: {} µs CPU/req",
                self.cfg.signing_alg,
                cpu_text(&sign)
            ),
        );
        self.push_ratio(
            row,
            sign.0.rate,
            &format!("hello + 1 {} signature", self.cfg.signing_alg),
            0.40,
        );

        // B3: contact change, each connection on its own user.
        let puts: Vec<RequestSpec> = writers
            .iter()
            .map(|u| put_contact(&format!("/api/2/users/{}", u.id), &bearer))
            .collect();
        let versions: Vec<i64> = writers.iter().map(|u| u.version).collect();
        progress("B3: PUT /api/2/users/{id} (SQLite)");
        let spec = self.spec(
            &server,
            sizes.writers,
            None,
            Pick::PerConnection,
            puts,
            Some(versions),
        );
        let (b3, b3m) = self.load(&server, &spec, Some("B3"))?;
        progress("baseline: raw SQLite version-checked UPDATE");
        let db = self.cfg.work_dir.join("baseline.db");
        let (raw, _) = self.baseline(&[
            "sqlite-update".into(),
            db.display().to_string(),
            sizes.writers.to_string(),
            self.cfg.warmup.to_string(),
            self.cfg.seconds.to_string(),
        ])?;
        let row = self.row(
            "B3",
            &format!(
                "PUT /api/2/users/{{id}} contact, {} writers (SQLite)",
                sizes.writers
            ),
            &b3,
            &b3m,
        );
        self.push_ratio(row, raw.rate, "raw SQLite UPDATE, WAL+FULL", 0.30);

        // B5: password logins on both faces, against the cost of the hash itself.
        let grants: Vec<RequestSpec> = people
            .iter()
            .map(|u| RequestSpec {
                method: "POST".into(),
                path: "/api/2/idp/token".into(),
                headers: vec![
                    header("authorization", &basic(CLIENT_ID, CLIENT_SECRET)),
                    header("content-type", "application/x-www-form-urlencoded"),
                ],
                body: Some(format!(
                    "grant_type=password&username={}&password={}",
                    form_escape(&u.login),
                    form_escape(USER_PASSWORD)
                )),
            })
            .collect();
        let keystone: Vec<RequestSpec> = people
            .iter()
            .map(|u| RequestSpec {
                method: "POST".into(),
                path: "/v3/auth/tokens".into(),
                headers: vec![header("content-type", "application/json")],
                body: Some(
                    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                        "name": u.login, "domain": {"name": "Default"}, "password": USER_PASSWORD}}},
                        "scope": {"domain": {"name": "Default"}}}})
                    .to_string(),
                ),
            })
            .collect();
        progress("baseline: one Argon2id hash");
        let hash = self.argon2_baseline()?;
        let cores = self.server_cores();
        let capacity = cores as f64 * 1000.0 / hash.mean_ms;
        let hash_label = format!("{cores} core ÷ {:.1} ms/hash", hash.mean_ms);
        progress("B5: password grant");
        let spec = self.spec(
            &server,
            sizes.password_connections,
            None,
            Pick::RoundRobin,
            grants.clone(),
            None,
        );
        let (b5, b5m) = self.load(&server, &spec, Some("B5-grant"))?;
        let row = self.row(
            "B5",
            "password grant /api/2/idp/token (Argon2id)",
            &b5,
            &b5m,
        );
        self.push_ratio(row, capacity, &hash_label, 0.80);
        progress("B5: keystone password auth");
        let spec = self.spec(
            &server,
            sizes.password_connections,
            None,
            Pick::RoundRobin,
            keystone,
            None,
        );
        let (b5k, b5km) = self.load(&server, &spec, Some("B5-keystone"))?;
        let row = self.row(
            "B5",
            "POST /v3/auth/tokens password (Argon2id)",
            &b5k,
            &b5km,
        );
        self.push_ratio(row, capacity, &hash_label, 0.80);

        // The login storm: ten times what B5 sustained, open loop.
        let offered = (b5.ok() as f64 / b5.seconds).max(1.0) * 10.0;
        progress(&format!("B5: login storm at {offered:.0}/s"));
        let spec = self.spec(
            &server,
            sizes.storm_connections,
            Some(offered),
            Pick::RoundRobin,
            grants,
            None,
        );
        let (storm, storm_m) = self.load(&server, &spec, Some("B5-storm"))?;
        self.rows.push(storm_row(&storm, &storm_m, offered));

        // B9: latency at half the maximum throughput; the hello-world baseline at the same
        // offered rate shows the floor of this machine and load generator.
        let mut sign_request = token_request.clone();
        sign_request.path = "/sign".into();
        for (id, max, requests, floor) in [
            (
                "B1",
                b1.ok() as f64 / b1.seconds,
                gets.clone(),
                get("/hello", &bearer),
            ),
            (
                "B2",
                b2.ok() as f64 / b2.seconds,
                vec![token_request.clone()],
                sign_request,
            ),
        ] {
            let rate = (max / 2.0).max(1.0);
            progress(&format!("B9: {id} open loop at {rate:.0}/s"));
            let spec = self.spec(
                &server,
                sizes.connections,
                Some(rate),
                Pick::RoundRobin,
                requests,
                None,
            );
            let (r, m) = self.load(&server, &spec, Some(&format!("B9-{id}")))?;
            let hello_server = Server::hello(&self.cfg.launcher, &self.cfg.signing_alg)?;
            let spec = self.spec(
                &hello_server,
                sizes.connections,
                Some(rate),
                Pick::RoundRobin,
                vec![floor],
                None,
            );
            let (base, _) = self.load(&hello_server, &spec, None)?;
            drop(hello_server);
            let mut row = self.row("B9", &format!("{id} at 50 % of its max, open loop"), &r, &m);
            row.baseline = format!(
                "{rate:.0}/s offered; its baseline's p99 at that rate: {}",
                fmt_us(base.latency.p99_us)
            );
            row.target = "p99 ≤ 5 ms".into();
            row.verdict = Verdict::of(r.latency.p99_us <= 5_000);
            self.rows.push(row);
        }

        // B6: the same GET with many live revocations.
        progress("B6: B1 without revocations");
        let spec = self.spec(
            &server,
            sizes.connections,
            None,
            Pick::RoundRobin,
            gets.clone(),
            None,
        );
        let (none, none_m) = self.load(&server, &spec, Some("B6-none"))?;
        // The seeder writes into the database file, which only a stopped server may share
        // (SQLite serves one node, and the node caches what it reads).
        server.stop();
        drop(server);
        let db_path = data_dir.join("warden.db");
        let took = seed::revocations(&db_path, sizes.revocations)?;
        let mut server = self.start_warden(&data_dir, &[], "sqlite-revocations")?;
        // A new token: the restarted server signs with a key of its own.
        let bearer = format!(
            "Bearer {}",
            Api::connect(&server.addr, CLIENT_ID, CLIENT_SECRET)?.token
        );
        let gets: Vec<RequestSpec> = people
            .iter()
            .map(|u| get(&format!("/api/2/users/{}", u.id), &bearer))
            .collect();
        progress(&format!(
            "B6: seeded {} revocations in {:.1} s",
            sizes.revocations,
            took.as_secs_f64()
        ));
        let spec = self.spec(
            &server,
            sizes.connections,
            None,
            Pick::RoundRobin,
            gets,
            None,
        );
        let (revoked, revoked_m) = self.load(&server, &spec, Some("B6"))?;
        let mut row = self.row(
            "B6",
            &format!("B1 with {} live revocations", sizes.revocations),
            &revoked,
            &revoked_m,
        );
        let cpu_none = none_m
            .server_cpu_seconds
            .map(|s| s * 1e6 / none.completed.max(1) as f64);
        if let (Some(with), Some(without)) = (row.cpu_us, cpu_none) {
            let ratio = with / without;
            row.baseline = format!("{without:.1} µs CPU/req without");
            row.ratio = format!("{ratio:.2}×");
            row.verdict = Verdict::of(ratio <= 1.10);
        }
        row.target = "CPU/req ≤ 1.1×".into();
        self.rows.push(row);

        // B7: a million users.
        server.stop();
        drop(server);
        progress(&format!(
            "B7: seeding {} tenants and {} users",
            sizes.tenants, sizes.users
        ));
        let took = seed::directory(
            &db_path,
            &template_tenant,
            &template_user.id,
            sizes.tenants,
            sizes.users,
        )?;
        progress(&format!("B7: seeded in {:.1} s", took.as_secs_f64()));
        let server = self.start_warden(&data_dir, &[], "sqlite-large")?;
        std::thread::sleep(Duration::from_secs(1));
        let started_rss = server.rss()?;
        let api = Api::connect(&server.addr, CLIENT_ID, CLIENT_SECRET)?;
        let bearer = format!("Bearer {}", api.token);
        let spread = sizes.users.min(1000);
        let gets: Vec<RequestSpec> = (0..spread)
            .map(|i| {
                let n = 1 + i * (sizes.users / spread);
                get(
                    &format!("/api/2/users/{}", seed::seeded_id(seed::USER_PREFIX, n)),
                    &bearer,
                )
            })
            .collect();
        api.check_get(&format!("/users/{}", seed::seeded_id(seed::USER_PREFIX, 1)))?;
        progress("B7: B1 on the large data set");
        let spec = self.spec(
            &server,
            sizes.connections,
            None,
            Pick::RoundRobin,
            gets,
            None,
        );
        let (large, large_m) = self.load(&server, &spec, Some("B7-get"))?;
        let mut row = self.row(
            "B7",
            &format!("B1 with {} tenants, {} users", sizes.tenants, sizes.users),
            &large,
            &large_m,
        );
        row.note = join_notes(&row.note, &format!("seeded in {:.0} s", took.as_secs_f64()));
        self.push_ratio(
            row,
            b1.ok() as f64 / b1.seconds,
            "B1 on the small set",
            0.90,
        );

        let tenants_sample = sizes.tenants.min(100);
        let tenant = |i: u64| {
            seed::seeded_id(
                seed::TENANT_PREFIX,
                1 + i * (sizes.tenants / tenants_sample),
            )
        };
        let root_searches: Vec<RequestSpec> = (0..100u64)
            .map(|i| {
                let text = match i % 4 {
                    0 => format!("user{:05}", (i * 37) % (sizes.users / 100).max(1)),
                    1 => format!("given{}", (i * 13) % 1000),
                    2 => format!("family{}", (i * 101) % 1000),
                    _ => format!("bench%20tenant%20{:03}", i % 100),
                };
                get(
                    &format!("/api/2/search?tenant={root}&text={text}&limit=10"),
                    &bearer,
                )
            })
            .collect();
        let tenant_searches: Vec<RequestSpec> = (0..100u64)
            .map(|i| {
                let t = tenant(i % tenants_sample);
                let text = match i % 3 {
                    0 => format!("given{}", i % 10),
                    1 => format!("family{}", i % 100),
                    _ => format!("user{:07}", 1 + i % sizes.users),
                };
                get(
                    &format!("/api/2/search?tenant={t}&text={text}&limit=10"),
                    &bearer,
                )
            })
            .collect();
        let lists: Vec<RequestSpec> = (0..tenants_sample)
            .map(|i| get(&format!("/api/2/tenants/{}/users", tenant(i)), &bearer))
            .collect();
        for (name, workload, requests) in [
            (
                "B7-search-root",
                "GET /api/2/search from the root",
                root_searches,
            ),
            (
                "B7-search-tenant",
                "GET /api/2/search in one tenant",
                tenant_searches,
            ),
            (
                "B7-tenant-users",
                &*format!(
                    "GET /api/2/tenants/{{id}}/users (~{} users each)",
                    sizes.users / sizes.tenants
                ),
                lists,
            ),
        ] {
            // Throughput at saturation, then latency at half of it (as B9 does).
            progress(&format!("B7: {workload}"));
            // Few connections: a slow query must not leave a backlog behind for the next run.
            let connections = sizes.connections.min(8);
            let spec = self.spec(
                &server,
                connections,
                None,
                Pick::RoundRobin,
                requests.clone(),
                None,
            );
            let (max, max_m) = self.load(&server, &spec, Some(name))?;
            let rate = (max.ok() as f64 / max.seconds / 2.0).max(0.5);
            progress(&format!("B7: {workload}, open loop at {rate:.1}/s"));
            let spec = self.spec(
                &server,
                connections,
                Some(rate),
                Pick::RoundRobin,
                requests,
                None,
            );
            let (half, _) = self.load(&server, &spec, None)?;
            let mut row = self.row(
                "B7",
                &format!("{workload}; p50/p99 at 50 % of max"),
                &max,
                &max_m,
            );
            row.p50_us = Some(half.latency.p50_us);
            row.p99_us = Some(half.latency.p99_us);
            row.baseline = format!("{rate:.1}/s offered");
            row.target = "p99 ≤ 20 ms".into();
            row.verdict = Verdict::of(half.latency.p99_us <= 20_000 && half.ok() == half.completed);
            row.note = join_notes(&row.note, &non_2xx(&half));
            self.rows.push(row);
        }
        let after_rss = server.rss()?;
        let mut row = Row::new(
            "B8",
            &format!(
                "RSS with {} users: after start / after the B7 runs",
                sizes.users
            ),
        );
        row.baseline = format!("{} / {}", fmt_mb(started_rss), fmt_mb(after_rss));
        self.rows.push(row);
        Ok(())
    }

    fn postgres_part(&mut self) -> Result<()> {
        let sizes = self.cfg.sizes.clone();
        let admin = self.cfg.postgres_url.clone();
        if !psql(&admin, "SELECT 1").is_ok_and(|ok| ok) {
            let message =
                format!("PostgreSQL does not answer at {admin}: the PostgreSQL rows are skipped");
            progress(&message);
            let mut row = Row::new("B4", "PUT and GET on PostgreSQL");
            row.verdict = Verdict::Skipped;
            row.note = message;
            self.rows.push(row);
            return Ok(());
        }
        let db = format!("warden_bench_{}", std::process::id());
        let guard = Database::create(&admin, &db)?;
        let mut kek = [0u8; 32];
        aws_lc_rs::rand::fill(&mut kek).map_err(|_| anyhow::anyhow!("no randomness"))?;
        let kek: String = kek.iter().map(|b| format!("{b:02x}")).collect();
        let extra = vec![
            header("WARDEN_DATABASE_URL", &guard.url),
            header("WARDEN_KEK", &kek),
        ];
        let server = self.start_warden(&self.cfg.work_dir.join("pg"), &extra, "postgres")?;
        let api = Api::connect(&server.addr, CLIENT_ID, CLIENT_SECRET)?;
        let root = api.own_tenant()?;
        let bearer = format!("Bearer {}", api.token);
        let most = sizes.pg_clients.iter().copied().max().unwrap_or(8);
        let users: Vec<BenchUser> = (0..most)
            .map(|i| api.create_user(&root, &format!("bench-pg-{i:03}")))
            .collect::<Result<_>>()?;
        let mut results = Vec::new();
        for &clients in &sizes.pg_clients {
            let puts: Vec<RequestSpec> = users[..clients]
                .iter()
                .map(|u| put_contact(&format!("/api/2/users/{}", u.id), &bearer))
                .collect();
            let versions = users[..clients]
                .iter()
                .map(|u| api.version(&u.id))
                .collect::<Result<Vec<_>>>()?;
            progress(&format!("B4: PUT on PostgreSQL, {clients} clients"));
            let spec = self.spec(
                &server,
                clients,
                None,
                Pick::PerConnection,
                puts,
                Some(versions),
            );
            let put = self.load(&server, &spec, Some(&format!("B4-put-{clients}")))?;
            let gets: Vec<RequestSpec> = users
                .iter()
                .map(|u| get(&format!("/api/2/users/{}", u.id), &bearer))
                .collect();
            progress(&format!("B4: GET on PostgreSQL, {clients} clients"));
            let spec = self.spec(&server, clients, None, Pick::RoundRobin, gets, None);
            let get_result = self.load(&server, &spec, Some(&format!("B4-get-{clients}")))?;
            results.push((clients, put, get_result));
        }
        drop(server);
        drop(guard);

        let pgbench_available = Command::new("pgbench")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let bench_db = if pgbench_available {
            let guard =
                Database::create(&admin, &format!("warden_bench_pgb_{}", std::process::id()))?;
            progress(&format!("baseline: pgbench -i -s {}", sizes.pgbench_scale));
            let status = Command::new("pgbench")
                .args(["-i", "-q", "-s", &sizes.pgbench_scale.to_string()])
                .arg(&guard.url)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            if !status.success() {
                bail!("pgbench -i failed");
            }
            Some(guard)
        } else {
            progress("pgbench is not installed: the PostgreSQL baselines are skipped");
            None
        };
        for (clients, (put, put_m), (get_r, get_m)) in results {
            for (mode, result, measured, what) in [
                ("-N", &put, &put_m, "PUT /api/2/users/{id} contact"),
                ("-S", &get_r, &get_m, "GET /api/2/users/{id}"),
            ] {
                let row = self.row(
                    "B4",
                    &format!("{what}, {clients} clients (PostgreSQL)"),
                    result,
                    measured,
                );
                match &bench_db {
                    Some(db) => {
                        progress(&format!("baseline: pgbench {mode} -c {clients}"));
                        let tps = self.pgbench(&db.url, mode, clients)?;
                        self.push_ratio(row, tps, &format!("pgbench {mode} -c {clients}"), 0.50);
                    }
                    None => {
                        let mut row = row;
                        row.verdict = Verdict::Skipped;
                        row.note = join_notes(&row.note, "pgbench not installed");
                        self.rows.push(row);
                    }
                }
            }
        }
        Ok(())
    }

    fn pgbench(&self, url: &str, mode: &str, clients: usize) -> Result<f64> {
        let seconds = (self.cfg.seconds.ceil() as u64).max(1);
        let mut cmd = self.cfg.launcher.command(Core::Client, "pgbench");
        cmd.args(["-n", mode, "-M", "prepared", "-j", "1", "-c"])
            .arg(clients.to_string())
            .arg("-T")
            .arg(seconds.to_string())
            .arg(url)
            .stderr(Stdio::null());
        let output = cmd.output()?;
        if !output.status.success() {
            bail!("pgbench {mode} failed");
        }
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .context("no tps in pgbench output")
    }

    /// The token-issue, token-validate-plus-user-show and user-update workloads against an
    /// installed Keystone and against Warden's Keystone face, each alone on the server core.
    fn keystone_comparison(&mut self) -> Result<()> {
        if let Some(reason) = keystone::missing() {
            println!("The Keystone comparison was skipped: OpenStack Keystone is {reason}.");
            return Ok(());
        }
        progress(
            "Keystone: deploying (SQLite, Fernet, bcrypt cost 12, memcached, 2 uwsgi workers)",
        );
        let dir = self.cfg.work_dir.join("keystone");
        let server = keystone::deploy(&self.cfg.launcher, &dir)?;
        let project = json!({"project": {"name": "admin", "domain": {"id": "default"}}});
        let theirs =
            self.keystone_workloads(&server, keystone::ADMIN_PASSWORD, project, "keystone")?;
        drop(server);

        let warden =
            self.start_warden(&self.cfg.work_dir.join("keystone-cmp"), &[], "keystone-cmp")?;
        let domain = json!({"domain": {"id": "default"}});
        let ours = self.keystone_workloads(&warden, ADMIN_PASSWORD, domain, "warden")?;
        drop(warden);

        progress("baseline: one Argon2id hash, one bcrypt hash at cost 12");
        let argon2 = self.argon2_baseline()?;
        let bcrypt_ms = bcrypt_ms(&self.cfg.launcher)?;

        // Logins: CPU per login, Warden's taken at Keystone's hash cost (its own hash's time
        // replaced by one bcrypt hash at cost 12).
        let cpu = |m: &(LoadResult, Measured)| cpu_us(&m.0, &m.1).unwrap_or(f64::NAN);
        let (ours_login, theirs_login) = (cpu(&ours[0]), cpu(&theirs[0]));
        let at_equal_cost = ours_login - argon2.mean_ms * 1000.0 + bcrypt_ms * 1000.0;
        let mut row = self.row(
            "K1",
            "POST /v3/auth/tokens password: Warden (Argon2id) against Keystone (bcrypt, cost 12)",
            &ours[0].0,
            &ours[0].1,
        );
        row.baseline = format!(
            "Keystone: {}/s, {:.0} µs CPU/login",
            fmt_rate(theirs[0].0.ok() as f64 / theirs[0].0.seconds),
            theirs_login
        );
        row.ratio = format!("{:.2}×", theirs_login / at_equal_cost);
        row.target = "CPU/login at equal hash cost".into();
        row.note = format!(
            "hash: Argon2id {:.1} ms, bcrypt-12 {:.1} ms; Warden at bcrypt-12 cost: {:.0} µs/login",
            argon2.mean_ms, bcrypt_ms, at_equal_cost
        );
        self.rows.push(row);
        for (i, (id, workload, min)) in [
            (
                "K2",
                "GET /v3/users/{id} with X-Auth-Token (token validated, user shown)",
                100.0,
            ),
            ("K3", "PATCH /v3/users/{id} description", 500.0),
        ]
        .into_iter()
        .enumerate()
        {
            let (ours, theirs) = (&ours[i + 1], &theirs[i + 1]);
            let mut row = self.row(id, workload, &ours.0, &ours.1);
            let their_rate = theirs.0.ok() as f64 / theirs.0.seconds;
            let ratio = row.rate.unwrap_or(0.0) / their_rate.max(f64::MIN_POSITIVE);
            row.baseline = format!(
                "Keystone: {}/s, {:.0} µs CPU/req",
                fmt_rate(their_rate),
                cpu(theirs)
            );
            row.ratio = format!("{ratio:.0}×");
            row.target = format!("≥ {min:.0}×");
            row.verdict = Verdict::of(ratio >= min);
            let their_errors = non_2xx(&theirs.0);
            if !their_errors.is_empty() {
                row.note = join_notes(&row.note, &format!("Keystone: {their_errors}"));
            }
            self.rows.push(row);
        }
        Ok(())
    }

    /// Logins, reads and updates against `server`'s `/v3`, signed in as its `admin`.
    fn keystone_workloads(
        &mut self,
        server: &Server,
        admin_password: &str,
        scope: serde_json::Value,
        name: &str,
    ) -> Result<Vec<(LoadResult, Measured)>> {
        let api = keystone::KeystoneApi::connect(&server.addr, admin_password, scope)?;
        let count = self.cfg.sizes.password_connections;
        progress(&format!("{name}: creating {count} users with passwords"));
        let users: Vec<(String, String)> = (0..count)
            .map(|i| {
                let login = format!("bench-ks-{i:03}");
                api.create_user(&login, USER_PASSWORD).map(|id| (id, login))
            })
            .collect::<Result<_>>()?;
        let json_header = header("content-type", "application/json");
        let token_header = header("x-auth-token", &api.token);
        let logins: Vec<RequestSpec> = users
            .iter()
            .map(|(_, login)| RequestSpec {
                method: "POST".into(),
                path: "/v3/auth/tokens".into(),
                headers: vec![json_header.clone()],
                body: Some(keystone::password_auth(login, USER_PASSWORD, None).to_string()),
            })
            .collect();
        let reads: Vec<RequestSpec> = users
            .iter()
            .map(|(id, _)| RequestSpec {
                method: "GET".into(),
                path: format!("/v3/users/{id}"),
                headers: vec![token_header.clone()],
                body: None,
            })
            .collect();
        // Each user's description alternates, so every update changes the row.
        let (users_ref, token_ref, json_ref) = (&users, &token_header, &json_header);
        let updates: Vec<RequestSpec> = ["a", "b"]
            .iter()
            .flat_map(|text| {
                users_ref.iter().map(move |(id, _)| RequestSpec {
                    method: "PATCH".into(),
                    path: format!("/v3/users/{id}"),
                    headers: vec![token_ref.clone(), json_ref.clone()],
                    body: Some(
                        json!({"user": {"description": format!("bench {text}")}}).to_string(),
                    ),
                })
            })
            .collect();
        let mut results = Vec::new();
        for (what, requests) in [("logins", logins), ("reads", reads), ("updates", updates)] {
            progress(&format!("{name}: {what}"));
            let mut spec = self.spec(server, count, None, Pick::RoundRobin, requests, None);
            // Keystone answers a few logins a second: a shorter phase could see none complete.
            spec.seconds = spec.seconds.max(KEYSTONE_MIN_SECONDS);
            results.push(self.load(server, &spec, None)?);
        }
        Ok(results)
    }
}

/// The CPU time of one bcrypt hash at Keystone's cost, with the `bcrypt` module Keystone's
/// password hashing uses, under Keystone's own interpreter, on the server's core.
fn bcrypt_ms(launcher: &Launcher) -> Result<f64> {
    let script = format!(
        "import bcrypt, time\n\
         salt = bcrypt.gensalt({cost})\n\
         start = time.process_time()\n\
         for _ in range(5): bcrypt.hashpw(b'a-Strong-passw0rd', salt)\n\
         print((time.process_time() - start) / 5 * 1000)\n",
        cost = keystone::BCRYPT_COST
    );
    let output = launcher
        .command(Core::Server, keystone::python())
        .args(["-c", &script])
        .output()
        .context("timing bcrypt with python3")?;
    if !output.status.success() {
        bail!("timing bcrypt: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

/// A Warden-independent measurement: the process measured is the baseline itself.
fn measure_self(cmd: Command) -> Result<Measured> {
    procs::measure_child(cmd)
}

/// Server CPU microseconds per completed request, when the server was sampled.
fn cpu_us(r: &LoadResult, m: &Measured) -> Option<f64> {
    m.server_cpu_seconds
        .map(|s| s * 1e6 / r.completed.max(1) as f64)
}

fn cpu_text(m: &(LoadResult, Measured)) -> String {
    cpu_us(&m.0, &m.1)
        .map(|us| format!("{us:.1}"))
        .unwrap_or_else(|| "—".into())
}

fn get(path: &str, bearer: &str) -> RequestSpec {
    RequestSpec {
        method: "GET".into(),
        path: path.to_owned(),
        headers: vec![header("authorization", bearer)],
        body: None,
    }
}

fn put_contact(path: &str, bearer: &str) -> RequestSpec {
    RequestSpec {
        method: "PUT".into(),
        path: path.to_owned(),
        headers: vec![
            header("authorization", bearer),
            header("content-type", "application/json"),
        ],
        body: Some(format!(
            r#"{{"contact":{{"firstname":"X"}},"version":{}}}"#,
            crate::spec::VERSION_PLACEHOLDER
        )),
    }
}

fn non_2xx(r: &LoadResult) -> String {
    let bad = r.non_2xx();
    if bad.is_empty() {
        return String::new();
    }
    bad.iter()
        .map(|(s, n)| {
            if *s == 0 {
                format!("{n}× transport error")
            } else {
                format!("{n}× {s}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn join_notes(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}; {b}"),
    }
}

fn storm_row(r: &LoadResult, m: &Measured, offered: f64) -> Row {
    let mut row = Row::new("B5", "login storm, 10× B5 capacity, open loop");
    row.rate = Some(r.completed as f64 / r.seconds);
    let refused: u64 = [429u16, 503].iter().filter_map(|s| r.statuses.get(s)).sum();
    let share = refused as f64 / r.completed.max(1) as f64;
    let refusal_p99 = [429u16, 503]
        .iter()
        .filter_map(|s| r.by_status.get(s))
        .map(|l| l.p99_us)
        .max();
    row.p50_us = [429u16, 503]
        .iter()
        .filter_map(|s| r.by_status.get(s))
        .map(|l| l.p50_us)
        .max();
    row.p99_us = refusal_p99;
    row.cpu_us = m
        .server_cpu_seconds
        .map(|s| s * 1e6 / r.completed.max(1) as f64);
    row.baseline = format!("{offered:.0}/s offered");
    row.ratio = format!("{:.0} % refused", share * 100.0);
    row.target = "report".into();
    let accepted = r
        .by_status
        .get(&200)
        .map(|l| fmt_us(l.p99_us))
        .unwrap_or_else(|| "—".into());
    row.note = format!(
        "p50/p99 of 429/503; 200s: {} (p99 {accepted}); peak RSS {}; {}",
        r.ok(),
        m.server_peak_rss.map(fmt_mb).unwrap_or_else(|| "—".into()),
        non_2xx(r)
    );
    row
}

/// Runs a statement through psql; `Ok(true)` when it succeeded.
fn psql(url: &str, sql: &str) -> Result<bool> {
    Ok(Command::new("psql")
        .arg(url)
        .args(["-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?
        .success())
}

/// A database made for the benchmark, dropped when done.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn create(admin: &str, name: &str) -> Result<Database> {
        psql(
            admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        if !psql(admin, &format!("CREATE DATABASE {name}"))? {
            bail!("cannot create database {name} at {admin}");
        }
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b)
            .context("PostgreSQL URL without a database")?;
        Ok(Database {
            admin: admin.to_owned(),
            name: name.to_owned(),
            url: format!("{base}/{name}"),
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Turns a perf recording into a flame graph when inferno is installed.
fn flame_graph(data: &Path) {
    let svg = data.with_extension("svg");
    let folded = data.with_extension("folded");
    let script = format!(
        "perf script -i '{}' 2>/dev/null | inferno-collapse-perf > '{}' && inferno-flamegraph < '{}' > '{}'",
        data.display(),
        folded.display(),
        folded.display(),
        svg.display()
    );
    let has_inferno = Command::new("sh")
        .args(["-c", "command -v inferno-flamegraph"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_inferno {
        match Command::new("sh").args(["-c", &script]).status() {
            Ok(s) if s.success() => progress(&format!("flame graph: {}", svg.display())),
            _ => progress(&format!("could not render {}", svg.display())),
        }
    } else {
        progress(&format!(
            "profile in {} (install inferno for a flame graph)",
            data.display()
        ));
    }
}
