//! argon2id hashing on the blocking pool, a bounded number at a time.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::phc::{self, Output, ParamsString, Salt};
use argon2::password_hash::{PasswordHasher as _, try_generate_salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::{HashError, Password, PasswordHash};

/// OWASP's minimum for argon2id: 19 MiB of memory, 2 passes, 1 lane.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;

/// What the dummy hash is made of: never a user's password, and its salt is
/// fixed so that building a hasher cannot fail for want of randomness.
const DUMMY_PASSWORD: &[u8] = b"tokengate dummy password for unknown users";
const DUMMY_SALT: &[u8] = b"tokengate-dummy-salt";

/// Hashes and verifies passwords with argon2id (m = 19456 KiB, t = 2, p = 1,
/// a random 16-byte salt), off the async executor.
///
/// [`hash`](PasswordHasher::hash) and [`verify`](PasswordHasher::verify) wait
/// for one of `concurrency` permits, then run on one of `concurrency`
/// dedicated threads while holding it: at most `concurrency` hashes run at once, each using 19 MiB,
/// and a burst of logins queues instead of growing the blocking pool. A
/// permit is held by the hashing work itself, so a request that is dropped
/// mid-hash still counts until that hash ends.
///
/// Cloning is cheap and clones share the permits.
///
/// ```
/// use tokengate::users::{Password, PasswordHasher};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let hasher = PasswordHasher::new(2);
/// let password = Password::for_login("hunter2hunter2".to_owned())?;
/// let hash = hasher.hash(&password).await?;
/// assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
///
/// assert!(hasher.verify(&password, Some(&hash)).await);
/// let wrong = Password::for_login("hunter3hunter3".to_owned())?;
/// assert!(!hasher.verify(&wrong, Some(&hash)).await);
/// // An unknown user costs one hash too, and never verifies.
/// assert!(!hasher.verify(&password, None).await);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

/// A piece of hashing work for the worker threads, given the thread's
/// argon2 memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The argon2 memory of one worker thread, kept from hash to hash.
///
/// argon2's own entry points allocate the 19 MiB of blocks for each hash
/// and free them after: the allocator hands such a block back to the
/// kernel, and the next hash faults every page in again (measured: about
/// 4 900 page faults and 8.7 ms of kernel time per hash). A worker keeps
/// its blocks instead; argon2 writes every block before reading it, so
/// what a previous hash left there does not matter.
#[derive(Default)]
struct Memory(Vec<Block>);

impl Memory {
    /// The first `params.block_count()` blocks, grown to that if needed (a
    /// stored hash of a larger cost).
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let count = params.block_count();
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
}

/// Starts `count` threads that run hashing jobs until every sender is gone.
///
/// Dedicated threads rather than tokio's blocking pool: a blocking pool
/// under a login storm spawns new threads, and each thread's allocator
/// arena keeps the 19 MiB of the last hash it ran. Measured here: 650 MB of
/// RSS after a storm with `spawn_blocking`; with `count` fixed threads the
/// memory stays at about `count` x 19 MiB.
fn start_workers(count: usize) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for i in 0..count {
        let receiver = Arc::clone(&receiver);
        let spawned = std::thread::Builder::new()
            .name(format!("tokengate-argon2-{i}"))
            .spawn(move || {
                let mut memory = Memory::default();
                loop {
                    let job = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(&mut memory),
                        Err(_) => break,
                    }
                }
            });
        // Without a thread the jobs wait for the others; with none, `run` fails.
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password hashing thread");
        }
    }
    sender
}

struct Inner {
    workers: mpsc::Sender<Job>,
    params: Params,
    permits: Arc<Semaphore>,
    concurrency: usize,
    /// Verified against when the user is unknown, so that an unknown user
    /// and a wrong password take the same time.
    dummy: PasswordHash,
    #[cfg(test)]
    in_flight: test_support::InFlight,
}

impl PasswordHasher {
    /// A hasher that runs at most `concurrency` hashes at once (0 counts as
    /// 1). It computes one hash now, the dummy that
    /// [`verify`](PasswordHasher::verify) checks for unknown users: build it
    /// once, at start-up, not per request.
    ///
    /// ```
    /// use tokengate::users::PasswordHasher;
    ///
    /// let hasher = PasswordHasher::new(4);
    /// assert_eq!(hasher.concurrency(), 4);
    /// ```
    pub fn new(concurrency: usize) -> PasswordHasher {
        let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN))
            .expect("OWASP argon2id parameters are valid");
        PasswordHasher::with_params(concurrency, params)
    }

    fn with_params(concurrency: usize, params: Params) -> PasswordHasher {
        let concurrency = concurrency.max(1);
        let dummy = argon2id(&params)
            .hash_password_with_salt(DUMMY_PASSWORD, DUMMY_SALT)
            .expect("a constant password and salt hash with valid parameters");
        PasswordHasher {
            inner: Arc::new(Inner {
                dummy: PasswordHash::from_phc(&dummy),
                params,
                // One more permit than threads: the next job waits at the
                // thread's door, so no thread idles between two hashes.
                permits: Arc::new(Semaphore::new(concurrency + 1)),
                workers: start_workers(concurrency),
                concurrency,
                #[cfg(test)]
                in_flight: Default::default(),
            }),
        }
    }

    /// How many hashes may run at once.
    ///
    /// ```
    /// use tokengate::users::PasswordHasher;
    ///
    /// assert_eq!(PasswordHasher::new(0).concurrency(), 1);
    /// ```
    pub fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    /// Hashes `password` with a fresh random salt, on the blocking pool once
    /// a permit is free. Must be called within a tokio runtime.
    ///
    /// ```
    /// use tokengate::users::{Password, PasswordHasher};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let hasher = PasswordHasher::new(1);
    /// let password = Password::for_login("hunter2hunter2".to_owned())?;
    /// let first = hasher.hash(&password).await?;
    /// let second = hasher.hash(&password).await?;
    /// assert_ne!(first, second, "each hash has its own salt");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let secret = password.to_zeroizing_bytes();
        self.run(move |inner, memory| hash_with(&inner.params, &secret, memory))
            .await?
    }

    /// Whether `password` matches `hash`, on the blocking pool once a
    /// permit is free. Must be called within a tokio runtime.
    ///
    /// `None` means the user is unknown: the password is then checked
    /// against a dummy hash of the same cost and the answer is `false`, so
    /// that the time taken does not tell whether a username exists. A hash
    /// with other parameters or another Argon2 variant verifies with its
    /// own; a hash of any other algorithm never verifies.
    ///
    /// ```
    /// use tokengate::users::{Password, PasswordHasher};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let hasher = PasswordHasher::new(1);
    /// let password = Password::for_login("hunter2hunter2".to_owned())?;
    /// let hash = hasher.hash(&password).await?;
    /// assert!(hasher.verify(&password, Some(&hash)).await);
    /// assert!(!hasher.verify(&password, None).await);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> bool {
        let secret = password.to_zeroizing_bytes();
        let hash = hash.cloned();
        self.run(move |inner, memory| verify_with(inner, &secret, hash.as_ref(), memory))
            .await
            .unwrap_or(false)
    }

    /// [`hash`](PasswordHasher::hash) on the calling thread, for a CLI or a
    /// thread of your own; it takes no permit. Never call it on an async
    /// executor's thread.
    ///
    /// ```
    /// use tokengate::users::{Password, PasswordHasher};
    ///
    /// let hasher = PasswordHasher::new(1);
    /// let password = Password::for_login("hunter2hunter2".to_owned())?;
    /// let hash = hasher.hash_blocking(&password)?;
    /// assert!(hasher.verify_blocking(&password, Some(&hash)));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn hash_blocking(&self, password: &Password) -> Result<PasswordHash, HashError> {
        hash_with(
            &self.inner.params,
            &password.to_zeroizing_bytes(),
            &mut Memory::default(),
        )
    }

    /// [`verify`](PasswordHasher::verify) on the calling thread, for a CLI
    /// or a thread of your own; it takes no permit. Never call it on an
    /// async executor's thread.
    ///
    /// ```
    /// use tokengate::users::{Password, PasswordHasher};
    ///
    /// let hasher = PasswordHasher::new(1);
    /// let password = Password::for_login("hunter2hunter2".to_owned())?;
    /// assert!(!hasher.verify_blocking(&password, None));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_blocking(&self, password: &Password, hash: Option<&PasswordHash>) -> bool {
        verify_with(
            &self.inner,
            &password.to_zeroizing_bytes(),
            hash,
            &mut Memory::default(),
        )
    }

    /// Whether `hash` was made with other settings than this hasher's (an
    /// older, weaker cost, or another Argon2 variant or version): after a
    /// successful login, hash the password again and store the new hash.
    ///
    /// ```
    /// use tokengate::users::{PasswordHash, PasswordHasher};
    ///
    /// let hasher = PasswordHasher::new(1);
    /// let old = PasswordHash::parse(
    ///     "$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$\
    ///      Eq6SyUw4Mqqqkxye9pm8y2Vq9Fbge1NVzNTbE/C6rhE",
    /// )?;
    /// assert!(hasher.needs_rehash(&old));
    /// # Ok::<_, tokengate::users::HashError>(())
    /// ```
    pub fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = hash.to_phc() else {
            return true;
        };
        let current = &self.inner.params;
        let same = parsed.algorithm == Algorithm::Argon2id.ident()
            && parsed.version == Some(u32::from(Version::V0x13))
            && Params::try_from(&parsed).is_ok_and(|params| {
                params.m_cost() == current.m_cost()
                    && params.t_cost() == current.t_cost()
                    && params.p_cost() == current.p_cost()
                    && params.output_len() == current.output_len()
            });
        !same
    }

    /// Runs `work` on the blocking pool while holding a permit; the permit
    /// moves into the blocking task, so it is released when the work ends
    /// even if the caller has gone.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner, &mut Memory) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        // Waiting (for a permit, then a thread) until the job starts; a
        // caller that goes away, or a job that never runs, leaves the queue.
        #[cfg(feature = "metrics")]
        let queued = crate::metrics::Queued::new();
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError::TaskFailed)?;
        let inner = Arc::clone(&self.inner);
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            #[cfg(feature = "metrics")]
            let running = queued.start();
            let result = {
                let _permit = permit;
                #[cfg(test)]
                let _in_flight = inner.in_flight.enter();
                work(&inner, memory)
            };
            #[cfg(feature = "metrics")]
            drop(running);
            // The caller may have gone; the work is done either way.
            let _ = done.send(result);
        });
        self.inner
            .workers
            .send(job)
            .map_err(|_| HashError::TaskFailed)?;
        result.await.map_err(|_| HashError::TaskFailed)
    }
}

impl Default for PasswordHasher {
    /// A hasher with one permit per CPU (`std::thread::available_parallelism`).
    ///
    /// ```
    /// use tokengate::users::PasswordHasher;
    ///
    /// assert!(PasswordHasher::default().concurrency() >= 1);
    /// ```
    fn default() -> Self {
        PasswordHasher::new(std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params = &self.inner.params;
        f.debug_struct("PasswordHasher")
            .field("algorithm", &"argon2id")
            .field("m_cost_kib", &params.m_cost())
            .field("t_cost", &params.t_cost())
            .field("p_cost", &params.p_cost())
            .field("concurrency", &self.inner.concurrency)
            .finish()
    }
}

fn argon2id(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(
    params: &Params,
    secret: &Zeroizing<Vec<u8>>,
    memory: &mut Memory,
) -> Result<PasswordHash, HashError> {
    let failed = |e: &dyn fmt::Display| HashError::Hashing(e.to_string());
    let salt = try_generate_salt().map_err(|e| failed(&e))?;
    let output =
        argon2_output(&argon2id(params), params, secret, &salt, memory).map_err(|e| failed(&e))?;
    // The PHC string argon2's own `hash_password` would make of these.
    let hash = phc::PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(output),
    };
    Ok(PasswordHash::from_phc(&hash))
}

/// The argon2 output of `secret` and `salt` under `params`, computed in
/// `memory`.
fn argon2_output(
    argon2: &Argon2<'_>,
    params: &Params,
    secret: &[u8],
    salt: &[u8],
    memory: &mut Memory,
) -> Result<Output, argon2::Error> {
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = &mut buffer[..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    argon2.hash_password_into_with_memory(secret, salt, out, memory.blocks(params))?;
    Output::new(out).map_err(|_| argon2::Error::OutputTooLong)
}

fn verify_with(
    inner: &Inner,
    secret: &Zeroizing<Vec<u8>>,
    hash: Option<&PasswordHash>,
    memory: &mut Memory,
) -> bool {
    let (hash, known) = match hash {
        Some(hash) => (hash, true),
        None => (&inner.dummy, false),
    };
    let Ok(parsed) = hash.to_phc() else {
        return false;
    };
    // The parameters, variant and version come from the hash itself.
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    // `Output`'s equality is constant-time.
    let matches = argon2_output(&argon2, &params, secret, salt.as_ref(), memory)
        .is_ok_and(|computed| computed == *expected);
    std::hint::black_box(matches) && known
}

#[cfg(test)]
mod test_support {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the hashes running on the blocking pool, and the most ever.
    #[derive(Default)]
    pub(super) struct InFlight {
        now: AtomicUsize,
        max: AtomicUsize,
    }

    pub(super) struct Entered<'a>(&'a InFlight);

    impl InFlight {
        pub(super) fn enter(&self) -> Entered<'_> {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            Entered(self)
        }

        pub(super) fn max(&self) -> usize {
            self.max.load(Ordering::SeqCst)
        }

        pub(super) fn now(&self) -> usize {
            self.now.load(Ordering::SeqCst)
        }
    }

    impl Drop for Entered<'_> {
        fn drop(&mut self) {
            self.0.now.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests;
