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

/// Starts `warden serve` with `env`, sends one request with the request id `id`, stops the
/// server and returns every line it logged.
fn log_of_one_request(env: &[(&str, &str)], id: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = warden()
        .arg("serve")
        .env("WARDEN_LISTEN", "127.0.0.1:0")
        .env("WARDEN_DATA_DIR", dir.path())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut address = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("listening") {
            address = line
                .split(['"', ' ', '='])
                .find(|word| word.starts_with("127.0.0.1:"))
                .map(str::to_owned);
        }
        seen.push(line);
        if address.is_some() {
            break;
        }
    }
    let address = address.expect("the server logs its address");
    let rest = std::thread::spawn(move || lines.map(Result::unwrap).collect::<Vec<_>>());
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: warden.test\r\nX-Request-Id: {id}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("x-request-id: {id}")),
        "{answer}"
    );
    let (code, _) = stop(child);
    assert_eq!(code, 0);
    seen.extend(rest.join().unwrap());
    seen
}

#[test]
fn each_request_is_one_access_line_in_the_log_format_and_level_asked_for() {
    let json = log_of_one_request(&[("WARDEN_LOG_FORMAT", "json")], "trace-\"log\"-1");
    let access: Vec<serde_json::Value> = json
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["message"] == "request")
        .collect();
    assert_eq!(access.len(), 1, "{json:?}");
    let line = &access[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["target"], "warden::app");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/healthz");
    assert_eq!(line["status"], 200);
    assert_eq!(line["request_id"], "trace-\"log\"-1");
    assert!(line["latency_ms"].as_f64().unwrap() > 0.0, "{line}");
    let stamp = line["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok() && stamp.ends_with('Z'),
        "{stamp}"
    );

    let text = log_of_one_request(&[("WARDEN_LOG_FORMAT", "text")], "trace-log-2");
    let access: Vec<&String> = text.iter().filter(|l| l.contains(" request ")).collect();
    assert_eq!(access.len(), 1, "{text:?}");
    assert!(
        access[0].contains(
            "  INFO warden::app: request method=GET route=/healthz status=200 latency_ms="
        ) && access[0].ends_with(" request_id=trace-log-2"),
        "{}",
        access[0]
    );

    // The log filter decides, as for every other line.
    let quiet = log_of_one_request(
        &[
            ("WARDEN_LOG_FORMAT", "json"),
            ("WARDEN_LOG_LEVEL", "warden::app=warn,info"),
        ],
        "trace-log-3",
    );
    assert!(
        quiet.iter().any(|l| l.contains("\"listening\"")),
        "{quiet:?}"
    );
    assert!(
        !quiet.iter().any(|l| l.contains("trace-log-3")),
        "{quiet:?}"
    );
}
