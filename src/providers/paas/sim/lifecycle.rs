//! Asynchronous life cycles computed from timestamps: a resource shows a pending status
//! (`provisioning`, `stopping` …) until a moment, then the settled one (`running`, `stopped` …),
//! unless a hook pinned a status of its own.

/// The status a resource settles into when its delete completes: it is then gone.
pub(crate) const GONE: &str = "gone";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Phase {
    pending: &'static str,
    settled: &'static str,
    until_ms: u64,
    pinned: Option<String>,
}

impl Phase {
    /// `pending` from now until `delay_ms` has passed, `settled` afterwards.
    pub fn after(
        pending: &'static str,
        settled: &'static str,
        now_ms: u64,
        delay_ms: u64,
    ) -> Phase {
        Phase {
            pending,
            settled,
            until_ms: now_ms.saturating_add(delay_ms),
            pinned: None,
        }
    }

    /// `settled` already.
    pub fn at(settled: &'static str) -> Phase {
        Phase::after(settled, settled, 0, 0)
    }

    pub fn status(&self, now_ms: u64) -> &str {
        match &self.pinned {
            Some(status) => status,
            None if now_ms < self.until_ms => self.pending,
            None => self.settled,
        }
    }

    pub fn is(&self, now_ms: u64, status: &str) -> bool {
        self.status(now_ms) == status
    }

    /// Pins `status` (a hook's out-of-band change) until the next transition.
    pub fn pin(&mut self, status: String) {
        self.pinned = Some(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_until_the_moment_then_settled() {
        let p = Phase::after("provisioning", "running", 1_000, 500);
        assert_eq!(p.status(1_000), "provisioning");
        assert_eq!(p.status(1_499), "provisioning");
        assert_eq!(p.status(1_500), "running");
        assert!(p.is(9_999, "running"));
        assert_eq!(Phase::at("stopped").status(0), "stopped");
    }

    #[test]
    fn a_pin_wins_until_replaced() {
        let mut p = Phase::after("provisioning", "running", 0, 10_000);
        p.pin("failed".into());
        assert_eq!(p.status(1), "failed");
        p = Phase::after("starting", "running", 5, 0);
        assert_eq!(p.status(5), "running");
    }
}
