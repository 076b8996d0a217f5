//! OpenStack Tempest's identity API tests (`tempest.api.identity`, Tempest 47, unmodified and
//! pinned in `compat/openstack/requirements.txt`) against a live server, with a `tempest.conf`
//! generated from its URL and bootstrap administrator. Prints passed, failed and skipped per
//! module with the first line of every failure, and fails unless every test listed in
//! `compat/tempest/must-pass.txt` passes. Passing tests missing from that list are reported so
//! it can grow; features Warden does not serve are switched off in `tempest.conf`, each with its
//! reason in `docs/compatibility.md`.
//!
//! The server is the in-process application every integration test uses (the real router,
//! services and store on port 0, on a multi-threaded runtime so Tempest's parallel workers are
//! served in parallel): it needs no log parsing to learn its port and credentials, and the
//! binary's own start-up is covered by the `binary` module.
//!
//! `TEMPEST_CONCURRENCY` sets Tempest's workers (default 2), `TEMPEST_REGEX` narrows the tests
//! run (the must-pass check then covers only the selected tests), and `TEMPEST_WORKSPACE` names
//! a directory to keep the workspace in (`tempest/logs/tempest.log` there holds every request
//! and response) instead of a temporary one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::compat::compat_dir;
use crate::helpers::*;
use crate::openstack::openstack_bin;

const IDENTITY_TESTS: &str = r"^tempest\.api\.identity\.";
const PREFIX: &str = "tempest.api.identity.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempest_identity_tests_listed_in_must_pass_all_pass() {
    let app = TestApp::spawn().await;
    let default_domain_id = default_domain_id(&app).await;
    let url = app.url.clone();
    let report = tokio::task::spawn_blocking(move || run_tempest(&url, &default_domain_id))
        .await
        .unwrap();
    println!("{}", report.text);
    assert!(
        report.must_pass_failures.is_empty(),
        "{} test(s) of compat/tempest/must-pass.txt did not pass (the table is above):\n  {}",
        report.must_pass_failures.len(),
        report.must_pass_failures.join("\n  ")
    );
}

/// The id of the Default domain, which Tempest creates its projects and users in.
async fn default_domain_id(app: &TestApp) -> String {
    let r = app
        .keystone_auth(
            ADMIN_LOGIN,
            ADMIN_PASSWORD,
            serde_json::json!({"domain": {"name": "Default"}}),
        )
        .await;
    assert_eq!(r.status(), 201, "the administrator cannot log in");
    let body: Value = r.json().await.unwrap();
    body["token"]["user"]["domain"]["id"]
        .as_str()
        .expect("the token names the user's domain")
        .to_owned()
}

/// The `tempest.conf` for a server at `url`: the bootstrap administrator creates a project and
/// users for each test class (dynamic credentials); only the identity service is available.
fn tempest_conf(workspace: &Path, url: &str, default_domain_id: &str) -> String {
    let ws = workspace.display();
    format!(
        "\
[DEFAULT]
log_dir = {ws}/logs
log_file = tempest.log
debug = True

[oslo_concurrency]
lock_path = {ws}/tempest_lock

[auth]
use_dynamic_credentials = True
admin_username = {ADMIN_LOGIN}
admin_password = {ADMIN_PASSWORD}
admin_project_name = admin
admin_domain_name = Default
default_credentials_domain_name = Default

[identity]
uri_v3 = {url}/v3
auth_version = v3
region = RegionOne
v3_endpoint_type = public
default_domain_id = {default_domain_id}
admin_role = admin
# Tempest's administrators also get `admin` on the Default domain, which is Warden's root: that
# makes them administrators of the whole tree, as `admin` anywhere is in Keystone's default policy.
admin_domain_scope = True
# Warden keeps no password history and sets no minimum password age.
user_unique_last_password_count = 0
user_minimum_password_age = 0
# Warden's per-account throttling: five free failures, then waits doubling from one second,
# during which even the right password is refused. After seven failures the account waits
# four seconds, which Tempest's lockout test sees as a lockout of that duration.
user_lockout_failure_attempts = 7
user_lockout_duration = 4

[identity-feature-enabled]
# Each switch is explained in docs/compatibility.md.
trust = False
access_rules = False
api_extensions = OS-INHERIT
security_compliance = True
domain_specific_drivers = False
immutable_user_source = False

[service-clients]
http_timeout = 60

[service_available]
cinder = False
neutron = False
glance = False
swift = False
nova = False
horizon = False
"
    )
}

struct Report {
    text: String,
    must_pass_failures: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
    /// The test never ran: its class's setup failed (the error) or no result came back.
    NotRun(String),
}

fn run_tempest(url: &str, default_domain_id: &str) -> Report {
    let bin = openstack_bin();
    let concurrency: usize = std::env::var("TEMPEST_CONCURRENCY")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().expect("TEMPEST_CONCURRENCY is a number"))
        .unwrap_or(2);
    let regex = std::env::var("TEMPEST_REGEX")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| IDENTITY_TESTS.to_owned());

    let temp = tempfile::tempdir().unwrap();
    let root = match std::env::var_os("TEMPEST_WORKSPACE").filter(|v| !v.is_empty()) {
        Some(kept) => {
            // Only what an earlier run wrote there is replaced.
            let kept = PathBuf::from(kept);
            let _ = std::fs::remove_dir_all(kept.join("tempest"));
            let _ = std::fs::remove_file(kept.join("workspaces.yaml"));
            std::fs::create_dir_all(&kept).unwrap();
            kept
        }
        None => temp.path().to_owned(),
    };
    let workspace = root.join("tempest");
    // The workspace registry goes to the workspace too, not to ~/.tempest.
    run_ok(
        tempest(&bin, &root)
            .args(["init", "--workspace-path"])
            .arg(root.join("workspaces.yaml"))
            .arg(&workspace),
        "tempest init",
        "",
    );
    let conf = workspace.join("etc/tempest.conf");
    std::fs::write(&conf, tempest_conf(&workspace, url, default_domain_id)).unwrap();

    let listed = run_ok(
        tempest(&bin, &workspace)
            .args(["run", "--list-tests", "--config-file"])
            .arg(&conf)
            .args(["--regex", &regex]),
        "tempest run --list-tests",
        "",
    );
    let selected: BTreeSet<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|l| l.starts_with("tempest."))
        .map(without_attributes)
        .collect();
    assert!(!selected.is_empty(), "no Tempest test matches {regex}");

    let subunit = workspace.join("results.subunit");
    let started = Instant::now();
    let run = tempest(&bin, &workspace)
        .args(["run", "--subunit", "--config-file"])
        .arg(&conf)
        .args(["--regex", &regex, "--concurrency", &concurrency.to_string()])
        // Each test ends within this many seconds, whatever the server does.
        .env("OS_TEST_TIMEOUT", "300")
        .stdout(std::fs::File::create(&subunit).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let elapsed = started.elapsed();

    let parsed = run_ok(
        Command::new(bin.join("python"))
            .arg(compat_dir().join("tempest/results.py"))
            .arg(&subunit),
        "reading Tempest's results",
        &format!(
            "tempest run's stderr:\n{}",
            String::from_utf8_lossy(&run.stderr)
        ),
    );
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    // Class fixtures, as "setUpClass (tempest.api.identity.x.test_y.Class)": a failed setup
    // (none of the class's tests ran), a skipped class (a feature switched off), a failed
    // cleanup (the tests ran; deleting what they made failed).
    let mut class_setup: BTreeMap<String, String> = BTreeMap::new();
    let mut class_skip: BTreeMap<String, String> = BTreeMap::new();
    let mut class_cleanup: BTreeMap<String, String> = BTreeMap::new();
    for line in String::from_utf8_lossy(&parsed.stdout).lines() {
        let result: Value = serde_json::from_str(line).unwrap();
        let id = result["id"].as_str().unwrap().to_owned();
        let status = result["status"].as_str().unwrap();
        let detail = result["detail"].as_str().unwrap_or_default().to_owned();
        if let Some((fixture, class)) = class_fixture(&id) {
            let map = match (status, fixture) {
                ("skip", _) => &mut class_skip,
                ("success", _) => continue,
                (_, "setUpClass") => &mut class_setup,
                _ => &mut class_cleanup,
            };
            map.insert(class.to_owned(), detail);
            continue;
        }
        let outcome = match status {
            "success" | "xfail" => Outcome::Passed,
            "skip" => Outcome::Skipped(detail),
            _ => Outcome::Failed(detail),
        };
        outcomes.insert(id, outcome);
    }
    assert!(
        !outcomes.is_empty() || !class_setup.is_empty(),
        "Tempest reported no result (exit status {:?}); its stderr:\n{}",
        run.status.code(),
        String::from_utf8_lossy(&run.stderr)
    );
    for id in &selected {
        let class = class_of(id);
        outcomes.entry(id.clone()).or_insert_with(|| {
            if let Some(reason) = class_skip.get(class) {
                Outcome::Skipped(reason.clone())
            } else if let Some(error) = class_setup.get(class) {
                Outcome::NotRun(format!("setUpClass failed: {error}"))
            } else {
                Outcome::NotRun("no result".to_owned())
            }
        });
    }

    let must_pass = must_pass();
    let mut must_pass_failures = Vec::new();
    for id in &must_pass {
        match outcomes.get(id) {
            Some(Outcome::Passed) => {}
            Some(outcome) => must_pass_failures.push(format!("{id}: {outcome:?}")),
            None if regex == IDENTITY_TESTS => {
                must_pass_failures.push(format!("{id}: no such test in Tempest's identity suite"))
            }
            None => {} // outside the selection of TEMPEST_REGEX
        }
    }

    let mut text = String::new();
    let count = |want: fn(&Outcome) -> bool| outcomes.values().filter(|o| want(o)).count();
    let passed = count(|o| matches!(o, Outcome::Passed));
    let failed = count(|o| matches!(o, Outcome::Failed(_) | Outcome::NotRun(_)));
    let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
    writeln!(
        text,
        "Tempest identity tests ({regex}), concurrency {concurrency}: {} tests in {:.0} s: \
         passed {passed}, failed {failed}, skipped {skipped}",
        outcomes.len(),
        elapsed.as_secs_f64()
    )
    .unwrap();
    writeln!(
        text,
        "\n{:<48} {:>6} {:>6} {:>7}",
        "module", "passed", "failed", "skipped"
    )
    .unwrap();
    let mut modules: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for (id, outcome) in &outcomes {
        let row = modules.entry(module_of(id)).or_default();
        match outcome {
            Outcome::Passed => row[0] += 1,
            Outcome::Failed(_) | Outcome::NotRun(_) => row[1] += 1,
            Outcome::Skipped(_) => row[2] += 1,
        }
    }
    for (module, [p, f, s]) in &modules {
        writeln!(text, "{module:<48} {p:>6} {f:>6} {s:>7}").unwrap();
    }
    let short = |id: &str| id.strip_prefix(PREFIX).unwrap_or(id).to_owned();
    if !class_setup.is_empty() {
        writeln!(
            text,
            "\nClass setup failed (its tests did not run and count as failed):"
        )
        .unwrap();
        for (class, error) in &class_setup {
            let tests = selected.iter().filter(|id| class_of(id) == class).count();
            writeln!(text, "  {} ({tests} tests): {error}", short(class)).unwrap();
        }
    }
    let failures: Vec<_> = outcomes
        .iter()
        .filter_map(|(id, o)| match o {
            Outcome::Failed(error) => Some(format!("{}: {error}", short(id))),
            Outcome::NotRun(why) if !class_setup.contains_key(class_of(id)) => {
                Some(format!("{}: {why}", short(id)))
            }
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        writeln!(text, "\nFailed:\n  {}", failures.join("\n  ")).unwrap();
    }
    if !class_cleanup.is_empty() {
        writeln!(text, "\nClass cleanup failed:").unwrap();
        for (class, error) in &class_cleanup {
            writeln!(text, "  {}: {error}", short(class)).unwrap();
        }
    }
    let skips: Vec<_> = outcomes
        .iter()
        .filter_map(|(id, o)| match o {
            Outcome::Skipped(reason) => Some(format!("{}: {reason}", short(id))),
            _ => None,
        })
        .collect();
    if !skips.is_empty() {
        writeln!(text, "\nSkipped:\n  {}", skips.join("\n  ")).unwrap();
    }
    let unlisted: Vec<_> = outcomes
        .iter()
        .filter(|(id, o)| **o == Outcome::Passed && !must_pass.contains(*id))
        .map(|(id, _)| id.as_str())
        .collect();
    if !unlisted.is_empty() {
        writeln!(
            text,
            "\nPassing but not in compat/tempest/must-pass.txt (add them so they stay passing):\n{}",
            unlisted.join("\n")
        )
        .unwrap();
    }
    if std::env::var_os("TEMPEST_WORKSPACE").is_some() {
        writeln!(
            text,
            "\nRequests and responses: {}",
            workspace.join("logs/tempest.log").display()
        )
        .unwrap();
    }
    Report {
        text,
        must_pass_failures,
    }
}

/// Runs `command` to its end; stops the test with its stderr and `context` unless it exits 0.
fn run_ok(command: &mut Command, what: &str, context: &str) -> Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}\n{context}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `tempest` from the pinned virtualenv, run in `dir` with no OpenStack settings inherited.
fn tempest(bin: &Path, dir: &Path) -> Command {
    let mut command = Command::new(bin.join("tempest"));
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("OS_") || key.starts_with("TEMPEST_") {
            command.env_remove(key);
        }
    }
    // stestr and Tempest's workers find the virtualenv's tools first.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.to_owned()];
    dirs.extend(std::env::split_paths(&path));
    command.env("PATH", std::env::join_paths(dirs).unwrap());
    command
}

/// The ids of `compat/tempest/must-pass.txt`: one per line, `#` starts a comment.
fn must_pass() -> BTreeSet<String> {
    let path = compat_dir().join("tempest/must-pass.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(without_attributes)
        .collect()
}

/// A test id without Tempest's `[id-…,smoke]` attributes.
fn without_attributes(id: &str) -> String {
    id.split('[').next().unwrap_or(id).trim().to_owned()
}

/// `("setUpClass", class)` for a class fixture's result id.
fn class_fixture(id: &str) -> Option<(&str, &str)> {
    let (fixture, rest) = id.split_once(" (")?;
    Some((fixture, rest.strip_suffix(')')?))
}

fn class_of(id: &str) -> &str {
    id.rsplit_once('.').map_or(id, |(class, _)| class)
}

/// `admin.v3.test_users` for `tempest.api.identity.admin.v3.test_users.Class.test`.
fn module_of(id: &str) -> &str {
    let id = id.strip_prefix(PREFIX).unwrap_or(id);
    class_of(class_of(id))
}
