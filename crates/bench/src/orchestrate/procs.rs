//! Child processes: the servers under test, the baselines and the load generator, with CPU
//! and memory sampled around each measured phase.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::procfs;
use crate::{MEASURE_END, MEASURE_START};

/// Which core a process belongs on when pinning.
#[derive(Clone, Copy, Debug)]
pub enum Core {
    /// The server side: the server under test and the baselines standing in for it.
    Server,
    /// The client side: the load generator, pgbench.
    Client,
}

/// Builds commands, pinned to their core when the machine has two.
#[derive(Clone, Debug)]
pub struct Launcher {
    pub pin: bool,
    pub bin_dir: PathBuf,
}

impl Launcher {
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    pub fn command(&self, core: Core, program: impl AsRef<std::ffi::OsStr>) -> Command {
        if self.pin {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(match core {
                Core::Server => "0",
                Core::Client => "1",
            });
            cmd.arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }
}

/// Sends SIGTERM, then SIGKILL if the process has not gone after `grace`.
pub fn terminate(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A server under test (Warden or the hello baseline), stopped when dropped.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub addr: String,
    /// Kept open so that the server's writes to stdout never fail.
    _stdout: Option<ChildStdout>,
}

impl Server {
    /// Starts `warden serve` with `env`, logging to `log`, and waits for its "listening" line.
    pub fn warden(launcher: &Launcher, env: &[(String, String)], log: &Path) -> Result<Server> {
        let mut cmd = launcher.command(Core::Server, launcher.bin("warden"));
        cmd.arg("serve");
        for (key, _) in std::env::vars() {
            if key.starts_with("WARDEN_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("WARDEN_LISTEN", "127.0.0.1:0")
            .env("WARDEN_LOG_FORMAT", "json")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(File::create(log.with_extension("out"))?))
            .stderr(Stdio::from(File::create(log)?));
        let mut child = cmd.spawn().context("starting warden")?;
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(addr) = text.lines().find_map(listening_address) {
                return Ok(Server {
                    child,
                    pid,
                    addr,
                    _stdout: None,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "warden exited ({status}) before listening; see {}",
                    log.display()
                );
            }
            if Instant::now() > deadline {
                terminate(&mut child, Duration::from_secs(2));
                bail!("warden did not listen within 120 s; see {}", log.display());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Starts the hello-world baseline server.
    pub fn hello(launcher: &Launcher, alg: &str) -> Result<Server> {
        let mut cmd = launcher.command(Core::Server, launcher.bin("bench-hello"));
        cmd.arg("--alg")
            .arg(alg)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().context("starting bench-hello")?;
        let pid = child.id();
        let stdout = child.stdout.take().context("no stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            terminate(&mut child, Duration::from_secs(2));
            bail!("bench-hello did not start: {line:?}");
        };
        Ok(Server {
            addr: addr.to_owned(),
            child,
            pid,
            _stdout: Some(reader.into_inner()),
        })
    }

    /// A server the caller started and saw ready (a Keystone under uwsgi); its process tree
    /// is measured, and it is stopped like the others.
    pub fn started(child: Child, addr: String) -> Server {
        Server {
            pid: child.id(),
            child,
            addr,
            _stdout: None,
        }
    }

    pub fn rss(&self) -> Result<u64> {
        procfs::rss(self.pid)
    }

    pub fn stop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(10));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The address of a Warden "listening" log line (JSON format).
fn listening_address(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("message")?.as_str()? != "listening" {
        return None;
    }
    value.get("address")?.as_str().map(str::to_owned)
}

/// What was observed of a measuring process and of the server it loaded.
#[derive(Debug, Default)]
pub struct Measured {
    /// The process's final JSON line.
    pub json: String,
    /// Server CPU seconds (user + system, of the server and its child processes) between the
    /// markers.
    pub server_cpu_seconds: Option<f64>,
    /// Highest server RSS seen while measuring, polled every 20 ms.
    pub server_peak_rss: Option<u64>,
}

/// Profiles the server with `perf record -g` while a run measures.
#[derive(Clone, Debug)]
pub struct Profiler {
    pub out: PathBuf,
}

/// Runs `cmd` (a process speaking the marker protocol) and samples `server` around its
/// measured phase.
pub fn measure(cmd: Command, server: Option<u32>, profile: Option<&Profiler>) -> Result<Measured> {
    measure_inner(cmd, server, false, profile)
}

/// Runs `cmd` (a process speaking the marker protocol) and samples the process itself: for
/// baselines that are their own server.
pub fn measure_child(cmd: Command) -> Result<Measured> {
    measure_inner(cmd, None, true, None)
}

fn measure_inner(
    mut cmd: Command,
    server: Option<u32>,
    itself: bool,
    profile: Option<&Profiler>,
) -> Result<Measured> {
    let ticks = procfs::clock_ticks() as f64;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = cmd.spawn().context("starting a measuring process")?;
    let server = if itself { Some(child.id()) } else { server };
    let stdout = child.stdout.take().context("no stdout")?;
    let mut measured = Measured::default();
    let mut cpu_start = None;
    let polling = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let mut poller = None;
    let mut perf: Option<Child> = None;
    let mut last = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        match line.as_str() {
            MEASURE_START => {
                if let Some(pid) = server {
                    cpu_start = Some(procfs::tree_cpu_ticks(pid)?);
                    polling.store(true, Ordering::SeqCst);
                    let (polling, peak) = (polling.clone(), peak.clone());
                    poller = Some(std::thread::spawn(move || {
                        while polling.load(Ordering::SeqCst) {
                            if let Ok(rss) = procfs::rss(pid) {
                                peak.fetch_max(rss, Ordering::SeqCst);
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }));
                    if let Some(profiler) = profile {
                        perf = Some(start_perf(pid, &profiler.out)?);
                    }
                }
            }
            MEASURE_END => {
                if let (Some(pid), Some(start)) = (server, cpu_start) {
                    let end = procfs::tree_cpu_ticks(pid)?;
                    measured.server_cpu_seconds = Some((end.saturating_sub(start)) as f64 / ticks);
                    polling.store(false, Ordering::SeqCst);
                    if let Some(p) = poller.take() {
                        let _ = p.join();
                    }
                    measured.server_peak_rss = Some(peak.load(Ordering::SeqCst));
                }
                if let Some(mut p) = perf.take() {
                    stop_perf(&mut p);
                }
            }
            _ => last = line,
        }
    }
    polling.store(false, Ordering::SeqCst);
    if let Some(mut p) = perf.take() {
        stop_perf(&mut p);
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("a measuring process failed ({status})");
    }
    measured.json = last;
    Ok(measured)
}

fn start_perf(pid: u32, out: &Path) -> Result<Child> {
    let child = Command::new("perf")
        .args(["record", "-F", "499", "-g", "-e", "cpu-clock", "-o"])
        .arg(out)
        .arg("-p")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting perf")?;
    // perf needs a moment to attach before the samples that matter.
    std::thread::sleep(Duration::from_millis(100));
    Ok(child)
}

fn stop_perf(perf: &mut Child) {
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(perf.id().to_string())
        .status();
    let _ = perf.wait();
}
