//! Poll a task's rarely-firing waits only after one of them woke it.
//!
//! A task woken for every token also waits on things that seldom happen: a
//! session runner on its cancel token, reader count and two timers; a
//! client connection on the server's stop and its own quiet clock. Polled on
//! every pass, each of those takes a lock or re-registers a waker: ~5% of
//! the gateway's CPU per event (BENCHMARKS.md). [`Woken`] gives those waits
//! a waker of their own that raises a flag before waking the task, so a pass
//! woken by the stream skips them. Gate waits that lock: a lone timer polls
//! as cheaply as the gate itself (tried on the SSE heartbeat, no gain).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The flag and the task to wake, shared with the waits' waker.
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// A group of waits polled with their own waker, and only when it fired.
pub(crate) struct Woken {
    flag: Arc<Flag>,
    waker: Waker,
}

impl Woken {
    /// A gate whose first poll polls the waits (nothing has registered yet).
    pub(crate) fn new() -> Self {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(flag.clone());
        Self { flag, waker }
    }

    /// Poll the waits through `poll` if one of them woke the task (or
    /// [`Woken::mark`] was called) since the last pass; else `Pending`
    /// without touching them. The task is woken when one of them fires.
    pub(crate) fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        // Register first: a wake racing with this pass is not lost.
        self.flag.task.register(cx.waker());
        if !self.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let out = poll(&mut Context::from_waker(&self.waker));
        if out.is_ready() {
            // What fired is handled now and may be replaced or reset: look
            // at all of them again on the next pass.
            self.mark();
        }
        out
    }

    /// Poll the waits on the next pass: after one was reset or replaced,
    /// it must be polled again to register (a reset timer, a new future).
    pub(crate) fn mark(&self) {
        self.flag.woken.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    /// A waker that counts its wakes.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn waits_are_polled_first_then_only_after_they_woke_the_task() {
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let gate = Woken::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut rx = pin!(rx);
        let polls = AtomicUsize::new(0);
        let mut pass = |cx: &mut Context<'_>| {
            gate.poll(cx, |cx| {
                polls.fetch_add(1, Ordering::SeqCst);
                rx.as_mut().poll(cx).map(|r| r.ok())
            })
        };
        assert!(pass(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 1, "the first pass registers");
        for _ in 0..5 {
            assert!(pass(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::SeqCst), 1, "not woken: not polled");
        assert_eq!(task.0.load(Ordering::SeqCst), 0);

        tx.send(7).unwrap();
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the wait woke the task");
        assert_eq!(pass(&mut cx), Poll::Ready(Some(7)));
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn mark_polls_again_and_a_ready_wait_is_looked_at_on_the_next_pass() {
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        let gate = Woken::new();
        let polls = AtomicUsize::new(0);
        let pass = |cx: &mut Context<'_>, ready: bool| {
            gate.poll(cx, |_| {
                polls.fetch_add(1, Ordering::SeqCst);
                if ready {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
        };
        assert!(pass(&mut cx, true).is_ready());
        assert!(pass(&mut cx, false).is_pending(), "polled after a ready");
        assert!(pass(&mut cx, false).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
        gate.mark();
        assert!(pass(&mut cx, false).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 3, "marked: polled");
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_behind_the_gate_wakes_the_task_when_it_fires() {
        let gate = Woken::new();
        let mut sleep = pin!(tokio::time::sleep(Duration::from_secs(5)));
        let fired = std::future::poll_fn(|cx| gate.poll(cx, |cx| sleep.as_mut().poll(cx)));
        // Paused time advances only when the task is idle: this completes
        // only if the timer's wake reached the task through the gate.
        tokio::time::timeout(Duration::from_secs(60), fired)
            .await
            .expect("the timer's wake reached the task");
    }
}
