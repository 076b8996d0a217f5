//! The `warden` binary itself: help, bootstrap output once, clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn warden() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warden"));
    for (key, _) in std::env::vars() {
        if key.starts_with("WARDEN_") {
            command.env_remove(key);
        }
    }
    command
}

#[test]
fn help_documents_every_subcommand_and_setting() {
    let out = warden().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for word in [
        "serve",
        "migrate",
        "keys",
        "--listen",
        "--data-dir",
        "--database-url",
        "--config",
        "WARDEN_LISTEN",
    ] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
}

#[test]
fn unknown_settings_are_refused_at_start() {
    let out = warden()
        .arg("serve")
        .env("WARDEN_LISTN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listn"));
}

/// Starts `warden serve` on port 0, waits for its "listening" log line, returns the child,
/// its stdout so far and the address.
fn start(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut child = warden()
        .arg("serve")
        .env("WARDEN_LISTEN", "127.0.0.1:0")
        .env("WARDEN_DATA_DIR", dir)
        .env("WARDEN_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut address = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["message"] == "listening" {
            address = event["address"].as_str().map(str::to_owned);
            break;
        }
    }
    // Keep draining the log so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, address.expect("the server logs its address"))
}

fn stop(child: std::process::Child) -> (i32, String) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn serve_prints_generated_credentials_once_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address) = start(dir.path());
    let health = std::net::TcpStream::connect(&address);
    assert!(health.is_ok());
    let (code, stdout) = stop(child);
    assert_eq!(code, 0);
    assert!(stdout.contains("admin password:"), "{stdout}");
    assert!(stdout.contains("client secret:"), "{stdout}");
    assert!(dir.path().join("warden.db").exists());

    let (child, _) = start(dir.path());
    let (code, stdout) = stop(child);
    assert_eq!(code, 0);
    assert!(
        !stdout.contains("password"),
        "credentials printed twice: {stdout}"
    );
}
