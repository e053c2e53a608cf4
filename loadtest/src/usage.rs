//! The gateway process's memory, CPU and open descriptors, sampled from
//! `/proc/<pid>`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::Error;

/// How often RSS is sampled.
const INTERVAL: Duration = Duration::from_millis(50);

/// Descriptors are counted every this many RSS samples (listing
/// `/proc/<pid>/fd` at 20,000 entries costs a few milliseconds).
const FD_EVERY: u32 = 4;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// What the gateway used while the streams ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GatewayUsage {
    /// Resident memory before the first stream, in MiB.
    pub rss_start_mb: f64,
    /// The most resident memory seen, in MiB.
    pub rss_peak_mb: f64,
    /// CPU time (user + system) the gateway spent during the run, in seconds.
    pub cpu_secs: f64,
    /// Wall time of the run, in seconds.
    pub wall_secs: f64,
    /// Open descriptors before the first stream (`None`: `/proc/<pid>/fd`
    /// not readable, another user's process say).
    pub fds_start: Option<u64>,
    /// The most open descriptors seen.
    pub fds_peak: Option<u64>,
}

/// One RSS sample, with how many connections the load generator held then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemorySample {
    /// Seconds since sampling started.
    pub at_secs: f64,
    /// Streams (or connections) open at that moment.
    pub open: u64,
    pub rss_kb: u64,
}

/// Samples one process until [`Sampler::finish`].
pub struct Sampler {
    pid: u32,
    started: Instant,
    rss_start_kb: u64,
    cpu_start_ticks: u64,
    peak_kb: Arc<AtomicU64>,
    fds_start: Option<u64>,
    peak_fds: Arc<AtomicU64>,
    samples: Arc<Mutex<Vec<MemorySample>>>,
    task: JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling `pid`, noting the value of `open` (the load
    /// generator's open streams or connections) with each sample; fails at
    /// once when the process cannot be read.
    pub fn start(pid: u32, open: Arc<AtomicU64>) -> Result<Self, Error> {
        let proc_error = |source| Error::Proc { pid, source };
        let rss_start_kb = rss_kb(pid).map_err(proc_error)?;
        let cpu_start_ticks = cpu_ticks(pid).map_err(proc_error)?;
        let peak_kb = Arc::new(AtomicU64::new(rss_start_kb));
        let peak = Arc::clone(&peak_kb);
        let fds_start = fd_count(pid).ok();
        let peak_fds = Arc::new(AtomicU64::new(fds_start.unwrap_or(0)));
        let fd_peak = Arc::clone(&peak_fds);
        let samples = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&samples);
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL);
            let mut ticks = 0u32;
            loop {
                tick.tick().await;
                ticks = ticks.wrapping_add(1);
                if fds_start.is_some()
                    && ticks.is_multiple_of(FD_EVERY)
                    && let Ok(n) = fd_count(pid)
                {
                    fd_peak.fetch_max(n, Ordering::Relaxed);
                }
                match rss_kb(pid) {
                    Ok(kb) => {
                        peak.fetch_max(kb, Ordering::Relaxed);
                        let sample = MemorySample {
                            at_secs: started.elapsed().as_secs_f64(),
                            open: open.load(Ordering::Relaxed),
                            rss_kb: kb,
                        };
                        sink.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(sample);
                    }
                    Err(_) => return, // the process is gone
                }
            }
        });
        Ok(Self {
            pid,
            started,
            rss_start_kb,
            cpu_start_ticks,
            peak_kb,
            fds_start,
            peak_fds,
            samples,
            task,
        })
    }

    /// The gateway's resident memory now, in KiB.
    pub fn rss_now_kb(&self) -> Option<u64> {
        rss_kb(self.pid).ok()
    }

    /// Stops sampling and sums up; also returns every sample taken.
    pub fn finish(self) -> (GatewayUsage, Vec<MemorySample>) {
        self.task.abort();
        if let Ok(kb) = rss_kb(self.pid) {
            self.peak_kb.fetch_max(kb, Ordering::Relaxed);
        }
        if self.fds_start.is_some()
            && let Ok(n) = fd_count(self.pid)
        {
            self.peak_fds.fetch_max(n, Ordering::Relaxed);
        }
        let cpu_end = cpu_ticks(self.pid).unwrap_or(self.cpu_start_ticks);
        let usage = GatewayUsage {
            rss_start_mb: self.rss_start_kb as f64 / 1024.0,
            rss_peak_mb: self.peak_kb.load(Ordering::Relaxed) as f64 / 1024.0,
            cpu_secs: cpu_end.saturating_sub(self.cpu_start_ticks) as f64 / TICKS_PER_SEC,
            wall_secs: self.started.elapsed().as_secs_f64(),
            fds_start: self.fds_start,
            fds_peak: self
                .fds_start
                .map(|_| self.peak_fds.load(Ordering::Relaxed)),
        };
        let samples =
            std::mem::take(&mut *self.samples.lock().unwrap_or_else(PoisonError::into_inner));
        (usage, samples)
    }
}

/// KiB in MiB, to a tenth.
pub fn mb(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

fn rss_kb(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_rss_kb(&status).ok_or_else(|| io::Error::other("no VmRSS line"))
}

/// Entries in `/proc/<pid>/fd`: the process's open descriptors.
fn fd_count(pid: u32) -> io::Result<u64> {
    let mut n = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        entry?;
        n += 1;
    }
    Ok(n)
}

/// CPU seconds (user + system) process `pid` has used so far.
pub fn cpu_secs(pid: u32) -> Result<f64, Error> {
    cpu_ticks(pid)
        .map(|t| t as f64 / TICKS_PER_SEC)
        .map_err(|source| Error::Proc { pid, source })
}

fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).ok_or_else(|| io::Error::other("unreadable stat line"))
}

/// `VmRSS:    12345 kB` from `/proc/<pid>/status`.
fn parse_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `utime + stime` (fields 14 and 15) from `/proc/<pid>/stat`; the command
/// name (field 2) may hold spaces and parentheses, so count from its end.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // fields 3..=13
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_from_status() {
        let status = "Name:\tspillway\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_rss_kb(status), Some(12345));
    }

    #[test]
    fn reads_cpu_ticks_past_an_awkward_command_name() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 3 0 12345 1000000 300 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }

    #[tokio::test]
    async fn samples_this_process() {
        let open = Arc::new(AtomicU64::new(3));
        let sampler = Sampler::start(std::process::id(), open).unwrap();
        tokio::time::sleep(INTERVAL * 3).await;
        let (usage, samples) = sampler.finish();
        assert!(!samples.is_empty());
        assert!(samples.iter().all(|s| s.open == 3 && s.rss_kb > 0));
        assert!(usage.rss_peak_mb > 0.0);
        assert!(usage.rss_peak_mb >= usage.rss_start_mb);
        let (start, peak) = (usage.fds_start.unwrap(), usage.fds_peak.unwrap());
        assert!(start >= 3 && peak >= start, "{start} {peak}");
    }

    #[test]
    fn counts_descriptors_as_they_open() {
        let before = fd_count(std::process::id()).unwrap();
        let held: Vec<_> = (0..5)
            .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let during = fd_count(std::process::id()).unwrap();
        drop(held);
        assert!(during >= before + 5, "{before} -> {during}");
    }
}
