//! Where log lines go: standard error, in batches.
//!
//! A request that logs a line appends it to a shared buffer and goes on: no system call, and no
//! other thread woken per line. A writer thread writes whatever has gathered every
//! [`FLUSH_EVERY`], or at once when [`FLUSH_AT`] bytes are waiting. Nothing is dropped: past
//! [`HOLD_AT`] bytes (standard error not keeping up), the logging thread writes the batch
//! itself. The guard returned by [`batched_stderr`] writes what is left when dropped; lines
//! logged in the last [`FLUSH_EVERY`] before a crash may be lost.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Waiting bytes that wake the writer thread at once.
pub const FLUSH_AT: usize = 64 * 1024;
/// Waiting bytes past which the logging thread writes them itself.
pub const HOLD_AT: usize = 1024 * 1024;

struct Shared<W> {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    /// The destination; locked while a batch is written, so batches never interleave.
    out: Mutex<W>,
    closing: Mutex<bool>,
}

impl<W: Write> Shared<W> {
    fn lock_pending(&self) -> MutexGuard<'_, Vec<u8>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `bytes` behind what is waiting.
    fn append(&self, bytes: &[u8]) {
        let waiting = {
            let mut pending = self.lock_pending();
            pending.extend_from_slice(bytes);
            pending.len()
        };
        if waiting >= HOLD_AT {
            self.flush();
        } else if waiting >= FLUSH_AT {
            self.wake.notify_one();
        }
    }

    /// Writes everything waiting, in order.
    fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let batch = std::mem::take(&mut *self.lock_pending());
        if !batch.is_empty() {
            // Standard error failing leaves nowhere to report it.
            let _ = out.write_all(&batch);
            let _ = out.flush();
        }
    }
}

/// The `MakeWriter` of the log: every line goes into the shared buffer.
pub struct Batched<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for Batched<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<W: Write> Batched<W> {
    /// Queues `bytes`, whole lines formatted elsewhere, behind what is waiting.
    pub fn append(&self, bytes: &[u8]) {
        self.shared.append(bytes);
    }
}

/// One line being logged.
pub struct Line<W> {
    shared: Arc<Shared<W>>,
}

impl<W: Write> Write for Line<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.shared.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for Batched<W> {
    type Writer = Line<W>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: self.shared.clone(),
        }
    }
}

/// Writes what is left, and stops the writer thread, when dropped.
pub struct FlushGuard<W: Write> {
    shared: Arc<Shared<W>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<W: Write> Drop for FlushGuard<W> {
    fn drop(&mut self) {
        *self
            .shared
            .closing
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.flush();
    }
}

/// A batched writer to `out` and its writer thread.
pub fn batched<W: Write + Send + 'static>(out: W) -> (Batched<W>, FlushGuard<W>) {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::with_capacity(FLUSH_AT)),
        wake: Condvar::new(),
        out: Mutex::new(out),
        closing: Mutex::new(false),
    });
    let worker = shared.clone();
    let thread = std::thread::Builder::new()
        .name("warden-log".to_owned())
        .spawn(move || loop {
            let closing = {
                let closing = worker.closing.lock().unwrap_or_else(|e| e.into_inner());
                if *closing {
                    true
                } else {
                    let (closing, _) = worker
                        .wake
                        .wait_timeout(closing, FLUSH_EVERY)
                        .unwrap_or_else(|e| e.into_inner());
                    *closing
                }
            };
            worker.flush();
            if closing {
                return;
            }
        })
        .ok();
    (
        Batched {
            shared: shared.clone(),
        },
        FlushGuard { shared, thread },
    )
}

/// Standard error, batched.
pub fn batched_stderr() -> (Batched<std::io::Stderr>, FlushGuard<std::io::Stderr>) {
    batched(std::io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A destination the test can read.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log(writer: &Batched<Sink>, line: &str) {
        writer.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn lines_are_written_in_order_within_the_interval_and_all_of_them_at_the_end() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone());
        log(&writer, "one\n");
        log(&writer, "two\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.0.lock().unwrap().as_slice(), b"one\ntwo\n");
        for i in 0..1000 {
            log(&writer, &format!("line {i}\n"));
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1002);
        assert_eq!(lines[2], "line 0");
        assert_eq!(lines[1001], "line 999");
    }

    #[test]
    fn a_backlog_past_the_hold_mark_is_written_by_the_logging_thread() {
        let sink = Sink::default();
        let (writer, _guard) = batched(sink.clone());
        let big = "x".repeat(HOLD_AT);
        log(&writer, &big);
        // Written before `log` returned, not by the writer thread later.
        assert_eq!(sink.0.lock().unwrap().len(), HOLD_AT);
    }
}
