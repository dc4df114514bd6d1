//! Where a portal's status string puts a resource in its life cycle, for any provider.

/// Where a portal status string puts a resource in its life cycle. The set of statuses is not
/// documented, so anything unknown is taken as work in progress (the raw value is shown to users).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Ready,
    /// Stopped, as asked (a suspended PaaS data store or service): settled, not usable.
    Stopped,
    InProgress,
    /// On its way out (a deletion the portal accepted and is carrying out).
    Deleting,
    Failed,
}

impl Lifecycle {
    pub fn of(status: &str) -> Self {
        match status.trim().to_ascii_lowercase().as_str() {
            "online" | "active" | "running" | "ready" | "available" | "completed" | "succeeded"
            | "live" => Self::Ready,
            "failed" | "error" | "errored" | "degraded" => Self::Failed,
            "stopped" | "suspended" => Self::Stopped,
            "deleting" | "deleted" | "terminating" | "destroying" | "removing" => Self::Deleting,
            _ => Self::InProgress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify_with_unknown_as_in_progress() {
        assert_eq!(Lifecycle::of("online"), Lifecycle::Ready);
        assert_eq!(Lifecycle::of("Creating"), Lifecycle::InProgress);
        assert_eq!(Lifecycle::of("migrating"), Lifecycle::InProgress);
        assert_eq!(Lifecycle::of("FAILED"), Lifecycle::Failed);
        assert_eq!(Lifecycle::of("deleting"), Lifecycle::Deleting);
        assert_eq!(Lifecycle::of("stopped"), Lifecycle::Stopped);
        assert_eq!(Lifecycle::of("stopping"), Lifecycle::InProgress);
    }
}
