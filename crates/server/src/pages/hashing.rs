//! Password hashing for the server: on blocking threads, a bounded number at a time.
//!
//! An Argon2id hash or verification takes about 20 ms of one core and 19 MiB. Run on the async
//! workers it would stall every other request; run without a bound, a burst of sign-in attempts
//! would take all cores and memory (reference §4.8, ASVS 15.2.2). So each one waits for one of N
//! permits (N = the cores available), then runs on tokio's blocking pool holding its permit
//! until it finishes, even if the request that asked for it has gone. A request that gets no
//! permit within the wait (3 s) gives up with [`AccountsError::Busy`], a 503.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_core::accounts::{
    AccountsError, Password, PasswordHashing, Salt, hash_password, verify_password,
};
use tokio::sync::Semaphore;

/// How long a request waits for a hashing slot before answering 503.
const DEFAULT_WAIT: Duration = Duration::from_secs(3);

/// Argon2id on the blocking pool, at most `concurrency` at once.
#[derive(Debug, Clone)]
pub struct BoundedHashing {
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl BoundedHashing {
    /// At most `concurrency` hashes at once; a request waits at most `wait` for a slot.
    pub fn new(concurrency: usize, wait: Duration) -> Self {
        BoundedHashing {
            permits: Arc::new(Semaphore::new(concurrency)),
            wait,
        }
    }

    /// One slot per core this process may use.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::new(cores, DEFAULT_WAIT)
    }

    async fn run<T, F>(&self, work: F) -> Result<T, AccountsError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| AccountsError::Busy)?
            .map_err(|_| AccountsError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| AccountsError::Hashing(e.to_string()))
    }
}

#[async_trait]
impl PasswordHashing for BoundedHashing {
    async fn hash(&self, password: &Password, salt: Salt) -> Result<String, AccountsError> {
        let password = password.clone();
        self.run(move || hash_password(&password, salt)).await?
    }

    async fn verify(&self, password: &Password, phc: Option<&str>) -> Result<bool, AccountsError> {
        let password = password.clone();
        let phc = phc.map(str::to_owned);
        self.run(move || verify_password(&password, phc.as_deref()))
            .await
    }
}
