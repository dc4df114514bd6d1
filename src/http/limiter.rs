//! One request budget per token, shared by every caller using that token.
//!
//! A scheduler task hands out permits: at most `burst` at once, refilled at `requests / per`, and
//! never more than `requests` in any sliding window of `per` (so the budget holds even at the
//! edges of the burst). Writes (creates and deletes) waiting are served before reads. A 429 pauses
//! the whole token until `Retry-After` has passed, and the bucket restarts empty then, so the
//! portal sees no burst when the pause ends.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How many requests a token may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub requests: u32,
    pub per: Duration,
    pub burst: u32,
}

impl Budget {
    /// The portal allows 120/min per token; the operator's default of 100 leaves room for others.
    pub const DEFAULT_PER_MINUTE: u32 = 100;

    pub fn per_minute(requests: u32) -> Self {
        Self::new(requests, Duration::from_secs(60))
    }

    /// A budget with the default burst: a few requests at once, never more than the budget.
    pub fn new(requests: u32, per: Duration) -> Self {
        let requests = requests.max(1);
        Self {
            requests,
            per,
            burst: requests.clamp(1, 5),
        }
    }

    fn interval(&self) -> Duration {
        self.per / self.requests
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::per_minute(Self::DEFAULT_PER_MINUTE)
    }
}

/// Which queue a request waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Creates and deletes: served first.
    Write,
    /// Lists and gets.
    Read,
}

enum Message {
    Acquire {
        priority: Priority,
        grant: oneshot::Sender<()>,
    },
    Pause(Instant),
}

/// A handle on one token's scheduler. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Limiter {
    messages: mpsc::UnboundedSender<Message>,
    /// Writes waiting for a permit now.
    writes_waiting: AtomicUsize,
    /// When a write last asked for a permit.
    last_write: Mutex<Option<Instant>>,
    /// How long after a write asked the budget still counts as taken by writes.
    write_spell: Duration,
}

impl Limiter {
    /// Starts the scheduler on the current Tokio runtime.
    pub fn new(budget: Budget) -> Self {
        let (messages, inbox) = mpsc::unbounded_channel();
        tokio::spawn(Scheduler::new(budget).run(inbox));
        Self {
            messages,
            writes_waiting: AtomicUsize::new(0),
            last_write: Mutex::new(None),
            write_spell: (budget.interval() * 3).max(Duration::from_secs(2)),
        }
    }

    /// Waits for a permit to send one request and returns how long that took.
    pub async fn acquire(&self, priority: Priority) -> Duration {
        let started = Instant::now();
        if priority == Priority::Write {
            self.writes_waiting.fetch_add(1, Ordering::AcqRel);
            *self.last_write.lock().expect("not poisoned") = Some(started);
        }
        let (grant, granted) = oneshot::channel();
        if self
            .messages
            .send(Message::Acquire { priority, grant })
            .is_ok()
        {
            // The scheduler only drops a grant when it stops, which it does when every handle is gone.
            let _ = granted.await;
        }
        if priority == Priority::Write {
            self.writes_waiting.fetch_sub(1, Ordering::AcqRel);
        }
        started.elapsed()
    }

    /// The budget is being spent on writes: one waits for a permit, or one asked a moment ago
    /// (a wave of creates or deletes). Reads that can wait should then wait.
    pub fn busy_writing(&self) -> bool {
        self.writes_waiting.load(Ordering::Acquire) > 0
            || self
                .last_write
                .lock()
                .expect("not poisoned")
                .is_some_and(|at| at.elapsed() < self.write_spell)
    }

    /// Holds every request of this token until `retry_after` from now has passed.
    pub fn pause_for(&self, retry_after: Duration) {
        let _ = self
            .messages
            .send(Message::Pause(Instant::now() + retry_after));
    }
}

struct Scheduler {
    budget: Budget,
    /// Permits in the bucket as of `refilled_at` (fractional between refills).
    permits: f64,
    refilled_at: Instant,
    /// When the permits of the last `budget.per` were handed out, oldest first.
    granted: VecDeque<Instant>,
    paused_until: Option<Instant>,
    writes: VecDeque<oneshot::Sender<()>>,
    reads: VecDeque<oneshot::Sender<()>>,
}

impl Scheduler {
    fn new(budget: Budget) -> Self {
        Self {
            budget,
            permits: f64::from(budget.burst),
            refilled_at: Instant::now(),
            granted: VecDeque::with_capacity(budget.requests.min(1024) as usize),
            paused_until: None,
            writes: VecDeque::new(),
            reads: VecDeque::new(),
        }
    }

    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Message>) {
        loop {
            if self.writes.is_empty() && self.reads.is_empty() {
                match inbox.recv().await {
                    Some(message) => self.receive(message),
                    None => return,
                }
                continue;
            }
            let now = Instant::now();
            let ready_at = self.next_permit_at(now);
            if ready_at <= now {
                self.grant(now);
                continue;
            }
            tokio::select! {
                message = inbox.recv() => match message {
                    Some(message) => self.receive(message),
                    None => return,
                },
                () = tokio::time::sleep_until(ready_at) => {}
            }
        }
    }

    fn receive(&mut self, message: Message) {
        match message {
            Message::Acquire {
                priority: Priority::Write,
                grant,
            } => self.writes.push_back(grant),
            Message::Acquire {
                priority: Priority::Read,
                grant,
            } => self.reads.push_back(grant),
            Message::Pause(until) => {
                if self.paused_until.is_none_or(|current| until > current) {
                    self.paused_until = Some(until);
                    self.permits = 1.0;
                    self.refilled_at = until;
                }
            }
        }
    }

    /// The earliest moment a permit may be handed out.
    fn next_permit_at(&mut self, now: Instant) -> Instant {
        let mut at = now;
        if let Some(until) = self.paused_until {
            if until > at {
                at = until;
            } else {
                self.paused_until = None;
            }
        }
        let permits = self.permits_at(at);
        if permits < 1.0 {
            at += self.budget.interval().mul_f64(1.0 - permits);
        }
        while self
            .granted
            .front()
            .is_some_and(|&first| first + self.budget.per <= now)
        {
            self.granted.pop_front();
        }
        if self.granted.len() >= self.budget.requests as usize
            && let Some(&oldest) = self.granted.front()
        {
            at = at.max(oldest + self.budget.per);
        }
        at
    }

    fn permits_at(&self, at: Instant) -> f64 {
        let elapsed = at.saturating_duration_since(self.refilled_at);
        let refill = elapsed.as_secs_f64() / self.budget.interval().as_secs_f64();
        (self.permits + refill).min(f64::from(self.budget.burst))
    }

    /// Hands one permit to the first live waiter, writes first. A waiter that gave up costs nothing.
    fn grant(&mut self, now: Instant) {
        while let Some(waiter) = self.writes.pop_front().or_else(|| self.reads.pop_front()) {
            if waiter.send(()).is_ok() {
                self.permits = self.permits_at(now) - 1.0;
                self.refilled_at = now;
                self.granted.push_back(now);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_paced_at_the_rate() {
        let limiter = Limiter::new(Budget::new(60, Duration::from_secs(60)));
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire(Priority::Read).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "the burst is immediate"
        );
        limiter.acquire(Priority::Read).await;
        let sixth = start.elapsed();
        assert!(
            sixth >= Duration::from_millis(990) && sixth <= Duration::from_millis(1010),
            "the sixth waits one interval, waited {sixth:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_budget_in_a_window() {
        let budget = Budget {
            requests: 10,
            per: Duration::from_secs(10),
            burst: 10,
        };
        let limiter = Limiter::new(budget);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..30 {
            limiter.acquire(Priority::Read).await;
            times.push(start.elapsed());
        }
        for (i, first) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|t| **t < *first + budget.per)
                .count();
            assert!(
                in_window <= 10,
                "{in_window} permits within {:?} of {first:?}",
                budget.per
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn writes_jump_the_queue_of_reads() {
        let limiter = Arc::new(Limiter::new(Budget {
            requests: 1,
            per: Duration::from_secs(1),
            burst: 1,
        }));
        limiter.acquire(Priority::Read).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (label, priority) in [
            ("read1", Priority::Read),
            ("read2", Priority::Read),
            ("write", Priority::Write),
        ] {
            let limiter = limiter.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                limiter.acquire(priority).await;
                order.lock().unwrap().push(label);
            }));
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["write", "read1", "read2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_everyone_and_ends_without_a_burst() {
        let limiter = Limiter::new(Budget::new(600, Duration::from_secs(60)));
        limiter.acquire(Priority::Read).await;
        limiter.pause_for(Duration::from_secs(30));
        let start = Instant::now();
        limiter.acquire(Priority::Write).await;
        assert!(start.elapsed() >= Duration::from_secs(30));
        limiter.acquire(Priority::Write).await;
        let second = start.elapsed();
        assert!(
            second >= Duration::from_secs(30) + Duration::from_millis(99),
            "after a pause requests are paced again, second came at {second:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_wait_does_not_use_a_permit() {
        let limiter = Limiter::new(Budget {
            requests: 1,
            per: Duration::from_secs(1),
            burst: 1,
        });
        limiter.acquire(Priority::Read).await;
        let abandoned =
            tokio::time::timeout(Duration::from_millis(100), limiter.acquire(Priority::Read)).await;
        assert!(abandoned.is_err());
        let start = Instant::now();
        limiter.acquire(Priority::Read).await;
        assert!(
            start.elapsed() <= Duration::from_millis(900),
            "took {:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn writes_keep_the_limiter_busy_for_a_spell() {
        let limiter = Limiter::new(Budget::per_minute(60));
        assert!(!limiter.busy_writing());
        limiter.acquire(Priority::Read).await;
        assert!(!limiter.busy_writing(), "reads do not count");
        limiter.acquire(Priority::Write).await;
        assert!(limiter.busy_writing());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(limiter.busy_writing(), "three intervals of 1 s");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!limiter.busy_writing());
    }
}
