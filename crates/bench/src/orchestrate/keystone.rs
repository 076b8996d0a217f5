//! An OpenStack Keystone to compare with, when one is installed (Debian's `keystone`, with
//! `uwsgi` and its Python 3 plugin, and `memcached`): deployed for the run in a directory of its
//! own — SQLite database, Fernet tokens, bcrypt at cost 12, memcached as its cache — and
//! served by uwsgi with two worker processes. Nothing of the system's own Keystone
//! configuration is read or changed.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::blocking::Client;
use serde_json::{json, Value};

use super::procs::{Core, Launcher, Server};

/// The WSGI entry point of Debian's package.
const WSGI_PUBLIC: &str = "/usr/bin/keystone-wsgi-public";
/// The cost Keystone's bcrypt hashes are made with (`[identity] password_hash_rounds`).
pub const BCRYPT_COST: u32 = 12;
/// uwsgi worker processes, as the comparison's figures were given for.
const WORKERS: u32 = 2;
pub const ADMIN_PASSWORD: &str = "bench-Keystone-admin-0";

/// The Python interpreter Keystone runs on: the one its WSGI script names.
pub fn python() -> String {
    std::fs::read_to_string(WSGI_PUBLIC)
        .ok()
        .and_then(|text| {
            let first = text.lines().next()?.strip_prefix("#!")?.trim().to_owned();
            first.split_whitespace().next().map(str::to_owned)
        })
        .unwrap_or_else(|| "python3".to_owned())
}

/// Why no comparison can run here, if it cannot.
pub fn missing() -> Option<String> {
    let found = |program: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let absent: Vec<&str> = ["keystone-manage", "uwsgi", "memcached"]
        .into_iter()
        .filter(|p| !found(p))
        .collect();
    if !absent.is_empty() {
        return Some(format!("not installed here: {}", absent.join(", ")));
    }
    if !Path::new(WSGI_PUBLIC).exists() {
        return Some(format!("{WSGI_PUBLIC} is missing"));
    }
    None
}

/// A port free right now on the loopback interface, for a server that cannot be told to
/// pick its own.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let output = cmd.output().with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Writes the configuration and creates the database, keys and the admin in `dir`, then
/// starts uwsgi (HTTP/1.1 with keep-alive, as the load generator's connections are; memcached
/// attached, so both count as the server) and waits until both workers have loaded the
/// application and the API answers.
pub fn deploy(launcher: &Launcher, dir: &Path) -> Result<Server> {
    std::fs::create_dir_all(dir.join("policy.d"))?;
    let dir = dir.canonicalize()?;
    let memcached_port = free_port()?;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}/v3");
    // Only what is in this directory: built-in policy defaults, no system policy files.
    let base = format!(
        "[DEFAULT]\n\
         log_file = {log}\n\
         use_stderr = false\n\
         [database]\n\
         connection = sqlite:///{db}\n\
         [token]\n\
         provider = fernet\n\
         [fernet_tokens]\n\
         key_repository = {fernet}\n\
         [fernet_receipts]\n\
         key_repository = {fernet}\n\
         [credential]\n\
         key_repository = {credential}\n\
         [identity]\n\
         password_hash_algorithm = bcrypt\n\
         password_hash_rounds = {BCRYPT_COST}\n\
         [oslo_policy]\n\
         policy_file = {policy}\n\
         policy_dirs = {policy_dir}\n",
        log = dir.join("keystone.log").display(),
        db = dir.join("keystone.db").display(),
        fernet = dir.join("fernet-keys").display(),
        credential = dir.join("credential-keys").display(),
        policy = dir.join("policy.yaml").display(),
        policy_dir = dir.join("policy.d").display(),
    );
    // Setting up needs no cache; the served configuration caches in memcached.
    let setup_conf = dir.join("keystone-manage.conf");
    std::fs::write(&setup_conf, &base)?;
    let conf = dir.join("keystone.conf");
    std::fs::write(
        &conf,
        format!(
            "{base}[cache]\n\
             enabled = true\n\
             backend = oslo_cache.memcache_pool\n\
             memcache_servers = 127.0.0.1:{memcached_port}\n"
        ),
    )?;
    let user = String::from_utf8(Command::new("id").arg("-un").output()?.stdout)?;
    let user = user.trim().to_owned();
    let group = String::from_utf8(Command::new("id").arg("-gn").output()?.stdout)?;
    let group = group.trim().to_owned();
    let manage = |args: &[&str]| {
        let mut cmd = Command::new("keystone-manage");
        cmd.arg("--config-file").arg(&setup_conf).args(args);
        cmd
    };
    run(&mut manage(&["db_sync"]), "keystone-manage db_sync")?;
    // WAL, as Warden's SQLite runs: readers do not block the other worker's commits.
    let db = rusqlite::Connection::open(dir.join("keystone.db"))?;
    db.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    drop(db);
    for setup in ["fernet_setup", "credential_setup"] {
        run(
            &mut manage(&[setup, "--keystone-user", &user, "--keystone-group", &group]),
            &format!("keystone-manage {setup}"),
        )?;
    }
    run(
        &mut manage(&[
            "bootstrap",
            "--bootstrap-password",
            ADMIN_PASSWORD,
            "--bootstrap-username",
            "admin",
            "--bootstrap-project-name",
            "admin",
            "--bootstrap-role-name",
            "admin",
            "--bootstrap-region-id",
            "RegionOne",
            "--bootstrap-admin-url",
            &url,
            "--bootstrap-public-url",
            &url,
            "--bootstrap-internal-url",
            &url,
        ]),
        "keystone-manage bootstrap",
    )?;
    let log = dir.join("uwsgi.log");
    let mut cmd = launcher.command(Core::Server, "uwsgi");
    cmd.args(["--plugins", "python3", "--master", "--processes"])
        .arg(WORKERS.to_string())
        .args([
            "--threads",
            "1",
            "--enable-threads",
            "--lazy-apps",
            "--need-app",
        ])
        .args(["--die-on-term", "--no-orphans", "--skip-atexit-teardown"])
        .args(["--buffer-size", "65535", "--http11-socket"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--wsgi-file")
        .arg(WSGI_PUBLIC)
        .arg("--chdir")
        .arg(&dir)
        .arg("--attach-daemon")
        // `-u` is required when running as root, and ignored otherwise.
        .arg(format!(
            "memcached -l 127.0.0.1 -p {memcached_port} -U 0 -m 64 -u {user}"
        ))
        .arg("--logto")
        .arg(&log)
        .env("OS_KEYSTONE_CONFIG_FILES", &conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().context("starting uwsgi")?;
    let server = Server::started(child, format!("127.0.0.1:{port}"));
    wait_ready(&url, &log)?;
    Ok(server)
}

fn wait_ready(url: &str, log: &Path) -> Result<()> {
    let http = Client::builder().timeout(Duration::from_secs(10)).build()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // With `--lazy-apps` each worker loads the application itself.
        let loaded = std::fs::read_to_string(log)
            .unwrap_or_default()
            .matches("WSGI app 0 (mountpoint='') ready")
            .count();
        if loaded >= WORKERS as usize {
            if let Ok(r) = http.get(url).send() {
                if r.status().is_success() {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            bail!(
                "Keystone did not answer within 120 s; see {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the comparison needs of either server's `/v3`: tokens and users.
pub struct KeystoneApi {
    http: Client,
    base: String,
    pub token: String,
}

impl KeystoneApi {
    /// Signs in as `admin` (password `password`) with `scope`.
    pub fn connect(addr: &str, password: &str, scope: Value) -> Result<KeystoneApi> {
        let http = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let base = format!("http://{addr}/v3");
        let body = password_auth("admin", password, Some(scope));
        let response = http
            .post(format!("{base}/auth/tokens"))
            .json(&body)
            .send()?;
        if response.status().as_u16() != 201 {
            bail!(
                "admin token: {} {}",
                response.status(),
                response.text().unwrap_or_default()
            );
        }
        let token = response
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .context("no X-Subject-Token")?
            .to_owned();
        Ok(KeystoneApi { http, base, token })
    }

    /// Creates a user of the default domain with `password`; returns its id.
    pub fn create_user(&self, name: &str, password: &str) -> Result<String> {
        let response = self
            .http
            .post(format!("{}/users", self.base))
            .header("x-auth-token", &self.token)
            .json(
                &json!({"user": {"name": name, "domain_id": "default", "password": password,
                "enabled": true}}),
            )
            .send()?;
        let body = super::api::expect(response, 201, &format!("creating user {name}"))?;
        body["user"]["id"]
            .as_str()
            .map(str::to_owned)
            .context("no user id")
    }
}

/// A password authentication body for a user of the default domain.
pub fn password_auth(name: &str, password: &str, scope: Option<Value>) -> Value {
    let mut body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": {"id": "default"}, "password": password}}}}});
    if let Some(scope) = scope {
        body["auth"]["scope"] = scope;
    }
    body
}
