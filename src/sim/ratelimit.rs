//! Sliding-window rate limit: at most `limit` accepted requests in any 60 s window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Length of the window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The accepted requests of one credential within the last [`WINDOW`]. Rejected requests are not
/// recorded, so they do not consume budget.
#[derive(Debug, Default)]
pub struct Window {
    hits: VecDeque<Instant>,
}

impl Window {
    /// Accepts a request at `now` or says how long until one would be accepted.
    /// `limit == 0` means unlimited.
    pub fn try_acquire(&mut self, limit: u32, now: Instant) -> Result<(), Duration> {
        if limit == 0 {
            self.hits.clear();
            return Ok(());
        }
        while let Some(&oldest) = self.hits.front() {
            if now.saturating_duration_since(oldest) >= WINDOW {
                self.hits.pop_front();
            } else {
                break;
            }
        }
        let limit = limit as usize;
        if self.hits.len() < limit {
            self.hits.push_back(now);
            return Ok(());
        }
        // One slot frees once the hit at index `len - limit` leaves the window.
        let blocking = self.hits[self.hits.len() - limit];
        Err((blocking + WINDOW).saturating_duration_since(now))
    }
}

/// The `Retry-After` value for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_limit_then_rejects_without_consuming() {
        let t0 = Instant::now();
        let mut w = Window::default();
        for i in 0..3 {
            assert!(w.try_acquire(3, t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = w.try_acquire(3, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Rejections are not recorded: the first slot frees exactly at t0 + 60 s.
        for _ in 0..100 {
            assert!(w.try_acquire(3, t0 + Duration::from_secs(30)).is_err());
        }
        assert!(w.try_acquire(3, t0 + Duration::from_secs(59)).is_err());
        assert!(w.try_acquire(3, t0 + Duration::from_secs(60)).is_ok());
        assert!(w.try_acquire(3, t0 + Duration::from_secs(60)).is_err());
        assert!(w.try_acquire(3, t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn lowered_limit_waits_for_enough_expiries() {
        let t0 = Instant::now();
        let mut w = Window::default();
        for i in 0..10 {
            assert!(w.try_acquire(10, t0 + Duration::from_secs(i)).is_ok());
        }
        // With limit 2, eight hits (t0..t0+7s) must expire before one more is accepted.
        let wait = w.try_acquire(2, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(58));
    }

    #[test]
    fn zero_is_unlimited() {
        let t0 = Instant::now();
        let mut w = Window::default();
        for _ in 0..10_000 {
            assert!(w.try_acquire(0, t0).is_ok());
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(59)), 59);
    }
}
