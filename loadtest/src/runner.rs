//! Opens the streams: at a fixed arrival rate (or all at once), under a
//! concurrency limit, each with a timeout; folds the records into one
//! [`Aggregate`] per client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::ProgressBar;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use crate::error::Error;
use crate::record::{Aggregate, StreamRecord};
use crate::transport::{Client, StreamSpec};

/// When and how many streams run.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// New streams per second; 0 = all at once.
    pub arrival: f64,
    /// Most streams open at once; 0 = no limit.
    pub concurrency: usize,
    /// A stream still open after this long fails.
    pub timeout: Duration,
}

/// `concurrency`, or `default` when it is 0 (for modes that must not open
/// everything at once).
pub fn or_default(concurrency: usize, default: usize) -> usize {
    if concurrency > 0 {
        concurrency
    } else {
        default
    }
}

/// Lets connections start at an arrival rate (or all at once) and under a
/// concurrency limit: `admit(i)` waits for connection `i`'s turn and a
/// permit (hold the permit while the connection counts as in flight).
pub struct Gate {
    start: Instant,
    arrival: f64,
    limit: Option<Arc<Semaphore>>,
}

impl Gate {
    /// `arrival` per second (0 = all at once), at most `concurrency` at
    /// once (0 = no limit); the clock starts now.
    pub fn new(arrival: f64, concurrency: usize) -> Self {
        Self {
            start: Instant::now(),
            arrival,
            limit: (concurrency > 0).then(|| Arc::new(Semaphore::new(concurrency))),
        }
    }

    /// When connection `i` may start, counted from the start.
    fn offset(&self, i: u64) -> Duration {
        if self.arrival > 0.0 {
            Duration::try_from_secs_f64(i as f64 / self.arrival).unwrap_or(Duration::MAX)
        } else {
            Duration::ZERO
        }
    }

    pub async fn admit(&self, i: u64) -> Result<Option<OwnedSemaphorePermit>, Error> {
        sleep_until(self.start + self.offset(i)).await;
        match &self.limit {
            Some(limit) => Arc::clone(limit)
                .acquire_owned()
                .await
                .map(Some)
                .map_err(|e| Error::Scheduler(e.to_string())),
            None => Ok(None),
        }
    }
}

/// Runs every spec against each of `clients` in turn (one task per spec, so
/// with several clients stream `i` of each runs back to back) and returns
/// one aggregate per client, in order. `open` counts the gateway streams
/// open at each moment (for the memory samples).
pub async fn run_phase(
    clients: &[Arc<Client>],
    specs: Vec<StreamSpec>,
    schedule: &Schedule,
    progress: &ProgressBar,
    open: &Arc<AtomicU64>,
) -> Result<Vec<Aggregate>, Error> {
    let gate = Gate::new(schedule.arrival, schedule.concurrency);
    let mut aggregates = vec![Aggregate::default(); clients.len()];
    let mut tasks = JoinSet::new();
    for (i, spec) in (0u64..).zip(specs) {
        let permit = gate.admit(i).await?;
        let clients = clients.to_vec();
        let bar = progress.clone();
        let timeout = schedule.timeout;
        let open = Arc::clone(open);
        tasks.spawn(async move {
            let mut records = Vec::with_capacity(clients.len());
            for client in &clients {
                let gateway = client.is_gateway();
                if gateway {
                    open.fetch_add(1, Ordering::Relaxed);
                }
                records.push(run_one(client, &spec, timeout).await);
                if gateway {
                    open.fetch_sub(1, Ordering::Relaxed);
                }
                bar.inc(1);
            }
            drop(permit);
            records
        });
        while let Some(done) = tasks.try_join_next() {
            absorb(&mut aggregates, done, progress);
        }
    }
    while let Some(done) = tasks.join_next().await {
        absorb(&mut aggregates, done, progress);
    }
    Ok(aggregates)
}

async fn run_one(client: &Client, spec: &StreamSpec, timeout: Duration) -> StreamRecord {
    let started = Instant::now();
    match tokio::time::timeout(timeout, client.run(spec)).await {
        Ok(record) => record,
        Err(_) => StreamRecord::failed(
            started,
            format!("timed out after {:.1} s", timeout.as_secs_f64()),
        ),
    }
}

fn absorb(
    aggregates: &mut [Aggregate],
    done: Result<Vec<StreamRecord>, tokio::task::JoinError>,
    progress: &ProgressBar,
) {
    match done {
        Ok(records) => {
            for (agg, rec) in aggregates.iter_mut().zip(records) {
                agg.add(rec);
            }
        }
        // A stream task cannot panic by design; if one does, count it failed.
        Err(e) => {
            progress.println(format!("a stream task failed: {e}"));
            for agg in aggregates {
                agg.add(StreamRecord::failed(
                    Instant::now(),
                    "stream task failed".into(),
                ));
            }
        }
    }
}
