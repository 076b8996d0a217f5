//! Password hashing: Argon2id in PHC strings, computed off the async executor on a fixed set of
//! hashing threads behind a semaphore sized to them, with a bounded queue so a login storm gets
//! fast refusals instead of unbounded memory and latency.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::cell::RefCell;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;
use warden_domain::{DomainError, Password};

use crate::metrics::Metrics;

/// Argon2id cost. The defaults are OWASP's minimum for Argon2id: 19 MiB, t=2, p=1.
#[derive(Clone, Copy, Debug)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// This hashing thread's Argon2 working memory (the memory cost, 19 MiB by default), kept
    /// from one hash to the next. A fresh allocation per hash costs its page faults and zeroing
    /// every time, in amounts that depend on the state of the thread's allocator arena: hashes
    /// on different threads then took different times, and an unknown user (always the same
    /// dummy hash) could be told from a wrong password by timing alone.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 of `password` and `salt` into `out`, in this thread's working memory.
fn argon2_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    MEMORY.with_borrow_mut(|blocks| {
        let needed = argon.params().block_count();
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        // Every block is written before it is read: what an earlier hash left is never used.
        argon.hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
    })
}

/// How long a hashing thread keeps its working memory with no hash to compute: long enough to
/// stay warm between the logins of a busy server, short enough that an idle one gives it back.
const KEEP_MEMORY_IDLE: Duration = Duration::from_secs(1);

/// `count` threads that do nothing but hash, each in its own working memory (`MEMORY`): on a
/// fixed set of threads, resident memory is bounded by the number of slots rather than by how
/// many threads ever hashed, and a thread idle for `KEEP_MEMORY_IDLE` frees its memory. The
/// threads end when the hasher is dropped.
fn hashing_threads(count: usize) -> Result<std::sync::mpsc::Sender<Job>, DomainError> {
    let (jobs, queue) = std::sync::mpsc::channel::<Job>();
    let queue = Arc::new(std::sync::Mutex::new(queue));
    for i in 0..count {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("warden-hash-{i}"))
            .spawn(move || {
                let mut last_job = Instant::now();
                loop {
                    // One thread waits on the queue at a time, the others on its lock: each
                    // checks how long it has been idle whenever it gets its turn.
                    let next = queue.lock().map(|q| {
                        if last_job.elapsed() >= KEEP_MEMORY_IDLE {
                            MEMORY.take();
                        }
                        q.recv_timeout(KEEP_MEMORY_IDLE)
                    });
                    let job = match next {
                        Ok(Ok(job)) => job,
                        Ok(Err(RecvTimeoutError::Timeout)) => continue,
                        _ => return,
                    };
                    // A panicking hash fails its own request (its result is never sent); the
                    // thread stays.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    last_job = Instant::now();
                }
            })
            .map_err(|_| DomainError::Internal)?;
    }
    Ok(jobs)
}

pub struct PasswordHasher {
    argon: Argon2<'static>,
    params: HashParams,
    threads: std::sync::mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// A real hash of a random password, verified against when the user does not exist so
    /// that unknown users cost the same time as wrong passwords.
    dummy_hash: String,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Match { needs_rehash: bool },
    Mismatch,
}

impl PasswordHasher {
    pub fn new(
        params: HashParams,
        concurrency: usize,
        max_waiting: usize,
        metrics: Arc<Metrics>,
    ) -> Result<Self, DomainError> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|_| DomainError::Internal)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        // On a thread of its own, whose working memory goes with it.
        let dummy_hash = std::thread::scope(|scope| {
            scope
                .spawn(|| hash_with(&argon, &crate::secrets::new_generated_password()))
                .join()
                .map_err(|_| DomainError::Internal)?
        })?;
        Ok(Self {
            argon,
            params,
            threads: hashing_threads(concurrency.max(1))?,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: max_waiting.max(1),
            dummy_hash,
            metrics,
        })
    }

    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Runs `work` on a hashing thread once a slot is free, and `alongside` meanwhile;
    /// refuses at once with `Overloaded`, running neither, when too many hashes are already
    /// waiting.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Argon2<'static>) -> T + Send + 'static,
        alongside: impl Future<Output = ()>,
    ) -> Result<T, DomainError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            self.metrics.password_hash_rejected.inc();
            return Err(DomainError::Overloaded);
        }
        let (result, ()) = tokio::join!(self.run_admitted(work), alongside);
        result
    }

    async fn run_admitted<T: Send + 'static>(
        &self,
        work: impl FnOnce(Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, DomainError> {
        self.metrics.password_hash_waiting.inc();
        let permit = self.slots.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        self.metrics.password_hash_waiting.dec();
        let permit = permit.map_err(|_| DomainError::Unavailable)?;
        self.metrics.password_hash_running.inc();
        let argon = self.argon.clone();
        let started = Instant::now();
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = work(argon);
            drop(permit);
            let _ = done.send(out);
        });
        self.threads.send(job).map_err(|_| DomainError::Internal)?;
        let result = result.await;
        self.metrics.password_hash_running.dec();
        self.metrics
            .password_hash_duration
            .observe(started.elapsed().as_secs_f64());
        result.map_err(|_| DomainError::Internal)
    }

    pub async fn hash(&self, password: &Password) -> Result<String, DomainError> {
        let plain = password.expose().to_owned();
        self.run(move |argon| hash_with(&argon, &plain), async {})
            .await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// stored hash, so both paths take the same time. A missing hash never matches.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verification, DomainError> {
        self.verify_alongside(password, stored, async {}).await
    }

    /// `verify`, running `alongside` while the hash is computed — if the verification is
    /// admitted at all: a refused one (`Overloaded`) runs nothing.
    pub async fn verify_alongside(
        &self,
        password: &Password,
        stored: Option<&str>,
        alongside: impl Future<Output = ()>,
    ) -> Result<Verification, DomainError> {
        let exists = stored.is_some();
        let phc = stored.unwrap_or(&self.dummy_hash).to_owned();
        let plain = password.expose().to_owned();
        let params = self.params;
        let matched = self
            .run(
                move |_| match PasswordHash::new(&phc) {
                    Ok(parsed) => {
                        let ok = verify_with(&parsed, plain.as_bytes());
                        Some((ok, weaker_than(&parsed, params)))
                    }
                    Err(_) => None,
                },
                alongside,
            )
            .await?;
        Ok(match matched {
            Some((true, weaker)) if exists => Verification::Match {
                needs_rehash: weaker,
            },
            _ => Verification::Mismatch,
        })
    }
}

/// A PHC string of `plain` with a new random salt.
fn hash_with(argon: &Argon2<'static>, plain: &str) -> Result<String, DomainError> {
    let salt_bytes = crate::secrets::random_bytes::<16>();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| DomainError::Internal)?;
    let params = argon.params();
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let hash = Output::init_with(output_len, |out| {
        argon2_into(argon, plain.as_bytes(), &salt_bytes, out).map_err(Into::into)
    })
    .map_err(|_| DomainError::Internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|_| DomainError::Internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    };
    Ok(phc.to_string())
}

/// Whether `plain` is the password of a stored PHC string, computed with the string's own
/// algorithm and parameters and compared in constant time (`Output`'s equality).
fn verify_with(stored: &PasswordHash<'_>, plain: &[u8]) -> bool {
    let (Some(expected), Some(salt)) = (&stored.hash, &stored.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    Output::init_with(expected.len(), |out| {
        argon2_into(&argon, plain, salt, out).map_err(Into::into)
    })
    .is_ok_and(|computed| computed == *expected)
}

/// Whether a stored hash was made with weaker parameters than the current ones.
fn weaker_than(parsed: &PasswordHash<'_>, current: HashParams) -> bool {
    let Ok(stored) = Params::try_from(parsed) else {
        return true;
    };
    parsed.algorithm.as_str() != "argon2id"
        || stored.m_cost() < current.memory_kib
        || stored.t_cost() < current.iterations
        || stored.p_cost() < current.parallelism
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> HashParams {
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let hasher = PasswordHasher::new(cheap(), 2, 8, Arc::new(Metrics::new())).unwrap();
        let pw = Password::for_login("correct horse").unwrap();
        let stored = hasher.hash(&pw).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert_eq!(
            hasher.verify(&pw, Some(&stored)).await.unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        let wrong = Password::for_login("wrong horse").unwrap();
        assert_eq!(
            hasher.verify(&wrong, Some(&stored)).await.unwrap(),
            Verification::Mismatch
        );
        assert_eq!(
            hasher.verify(&pw, None).await.unwrap(),
            Verification::Mismatch
        );
    }

    /// Hashes made here verify with the argon2 crate's own verifier, and the other way
    /// round, for every Argon2 variant a stored string may name.
    #[test]
    fn phc_strings_agree_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(1024, 1, 1, None).unwrap();
        let ours = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let stored = hash_with(&ours, "correct horse").unwrap();
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(ours.verify_password(b"correct horse", &parsed).is_ok());
        assert!(ours.verify_password(b"wrong horse", &parsed).is_err());
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            for version in [Version::V0x13, Version::V0x10] {
                let theirs = Argon2::new(algorithm, version, params.clone());
                let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
                let phc = theirs.hash_password(b"correct horse", &salt).unwrap();
                let reparsed = PasswordHash::new(&phc.to_string()).unwrap().to_string();
                let reparsed = PasswordHash::new(&reparsed).unwrap();
                assert!(
                    verify_with(&reparsed, b"correct horse"),
                    "{algorithm:?} {version:?}"
                );
                assert!(
                    !verify_with(&reparsed, b"wrong horse"),
                    "{algorithm:?} {version:?}"
                );
            }
        }
        // Not an Argon2 string, or one without its hash: never a match.
        let pbkdf =
            PasswordHash::new("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA").unwrap();
        assert!(!verify_with(&pbkdf, b"x"));
        let bare = PasswordHash::new("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ").unwrap();
        assert!(!verify_with(&bare, b"x"));
    }

    #[tokio::test]
    async fn raised_parameters_ask_for_a_rehash() {
        let weak = PasswordHasher::new(cheap(), 1, 8, Arc::new(Metrics::new())).unwrap();
        let pw = Password::for_login("correct horse").unwrap();
        let stored = weak.hash(&pw).await.unwrap();
        let stronger = PasswordHasher::new(
            HashParams {
                memory_kib: 2048,
                ..cheap()
            },
            1,
            8,
            Arc::new(Metrics::new()),
        )
        .unwrap();
        assert_eq!(
            stronger.verify(&pw, Some(&stored)).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let hasher =
            Arc::new(PasswordHasher::new(cheap(), 1, 1, Arc::new(Metrics::new())).unwrap());
        // Hold the only slot so every further hash waits.
        let guard = hasher.slots.clone().acquire_owned().await.unwrap();
        let pw = Password::for_login("correct horse").unwrap();
        let queued = {
            let hasher = hasher.clone();
            let pw = pw.clone();
            tokio::spawn(async move { hasher.hash(&pw).await })
        };
        while hasher.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(hasher.hash(&pw).await, Err(DomainError::Overloaded));
        drop(guard);
        assert!(queued.await.unwrap().is_ok());
    }
}
