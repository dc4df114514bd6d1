//! What every reconcile shares: clients, token source, snapshots, the event recorder, timing and
//! the per-object failure counts that drive backoff.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::http::PortalClient;
use crate::providers::{ProviderState, ProviderStates};

use super::bindings::Bindings;
use super::credentials::{Defaults, ProviderConfigs};
use super::error::Category;
use super::events::EventRecorder;
use super::tenancy::DefaultScope;
use super::tokens::{SecretWatch, TokenSource, Wake};

/// How often things happen.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How old a portal snapshot may be for an object that is Ready and in sync.
    pub resync: Duration,
    /// How old it may be for an object in progress (creating, deleting, failing).
    pub poll: Duration,
    /// How long the portal's lists may take to show a resource just created: one whose request's
    /// answer was lost is looked for that long before its outcome is called unknown.
    pub list_lag: Duration,
    /// How often the per-resource reads beyond the lists (a WaysDatabase's settings, firewall and
    /// backup policy) are repeated for an object whose spec did not change.
    pub deep_resync: Duration,
}

impl Timing {
    /// The oldest portal snapshot any object accepts.
    pub fn longest_snapshot_age(&self) -> Duration {
        self.resync.max(self.poll)
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(600),
            poll: Duration::from_secs(5),
            list_lag: Duration::from_secs(120),
            deep_resync: Duration::from_secs(3600),
        }
    }
}

pub struct Context {
    pub kube: kube::Client,
    pub portal: PortalClient,
    pub tokens: TokenSource,
    /// Each provider's portal and default credentials.
    pub defaults: Defaults,
    /// The namespaces the default credentials serve.
    pub default_scope: DefaultScope,
    /// The ProviderConfigs, as the watch last saw them.
    pub provider_configs: ProviderConfigs,
    /// Who binds which portal resource (one object per resource).
    pub bindings: Bindings,
    /// What each provider's reconciles share (lists of its products …).
    pub states: ProviderStates,
    pub recorder: EventRecorder,
    /// Objects waiting for their token Secret to change.
    pub token_waits: SecretWatch<Wake>,
    /// Reconciles an object again now (whatever waits on a change sends it here).
    pub waker: tokio::sync::mpsc::UnboundedSender<Wake>,
    pub timing: Timing,
    pub failures: Failures,
    pub resync_requests: ResyncRequests,
}

impl Context {
    /// The state provider `S` keeps for its reconciles.
    pub fn state<S: ProviderState>(&self) -> &S {
        self.states.get()
    }

    /// Drops what nothing can use any more: Event records past their series window, portal
    /// lists no reader accepts, token reads past their freshness, the limiters of tokens not
    /// used for a while. The operator's memory then follows what it manages now, not every
    /// token and object it ever saw.
    pub fn forget_stale(&self) {
        self.recorder.forget_expired();
        self.states.forget_stale();
        self.tokens.forget_stale();
        self.portal.forget_idle(IDLE_LIMITER);
    }

    /// Drops what is kept per object once the object is gone.
    pub fn forget<K: kube::Resource<DynamicType = ()>>(&self, object: &K) {
        let key = super::shell::object_key(object);
        self.failures.reset(&key);
        self.resync_requests.forget(&key);
        self.token_waits.forget(&Wake::of(object));
        self.provider_configs.forget(&Wake::of(object));
    }
}

/// How long a token's limiter is kept unused: longer than any pause a 429 imposes and than its
/// budget window, so a new one behaves exactly as the old would have.
const IDLE_LIMITER: Duration = Duration::from_secs(15 * 60);

/// The last `reconcile-requested-at` value handled per object, to tell a new request from one
/// already served. Empty after a restart: then each annotated object looks once more.
#[derive(Default)]
pub struct ResyncRequests {
    handled: Mutex<HashMap<String, String>>,
}

impl ResyncRequests {
    /// True when `value` is a request not handled yet; it counts as handled from now on.
    pub fn is_new(&self, key: &str, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return false;
        };
        let mut handled = self.handled.lock().expect("resync requests");
        if handled.get(key).is_some_and(|seen| seen == value) {
            return false;
        }
        handled.insert(key.to_owned(), value.to_owned());
        true
    }

    pub fn forget(&self, key: &str) {
        self.handled.lock().expect("resync requests").remove(key);
    }
}

/// Consecutive failures per object, reset by a success or a new generation.
#[derive(Default)]
pub struct Failures {
    counts: Mutex<HashMap<String, (Option<i64>, u32)>>,
}

impl Failures {
    /// Counts one more failure and returns how long to wait before the next attempt.
    pub fn record(&self, key: String, generation: Option<i64>, category: Category) -> Duration {
        let mut counts = self.counts.lock().expect("failure counts");
        let entry = counts.entry(key).or_insert((generation, 0));
        if entry.0 != generation {
            *entry = (generation, 0);
        }
        entry.1 += 1;
        backoff(category, entry.1)
    }

    pub fn reset(&self, key: &str) {
        self.counts.lock().expect("failure counts").remove(key);
    }
}

/// Waiting states (token, quota, spec) start at 15 s and grow to 10 minutes; transient failures
/// start at 1 s and grow to 5 minutes.
pub fn backoff(category: Category, failures: u32) -> Duration {
    let (first, max) = match category {
        Category::Waiting => (Duration::from_secs(15), Duration::from_secs(600)),
        Category::Transient => (Duration::from_secs(1), Duration::from_secs(300)),
    };
    first
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(Category::Transient, 1), Duration::from_secs(1));
        assert_eq!(backoff(Category::Transient, 4), Duration::from_secs(8));
        assert_eq!(backoff(Category::Transient, 40), Duration::from_secs(300));
        assert_eq!(backoff(Category::Waiting, 1), Duration::from_secs(15));
        assert_eq!(backoff(Category::Waiting, 3), Duration::from_secs(60));
        assert_eq!(backoff(Category::Waiting, 20), Duration::from_secs(600));
    }

    #[test]
    fn a_resync_request_is_served_once_per_value() {
        let requests = ResyncRequests::default();
        assert!(!requests.is_new("ns/db", None));
        assert!(requests.is_new("ns/db", Some("1")));
        assert!(!requests.is_new("ns/db", Some("1")));
        assert!(requests.is_new("ns/db", Some("2")));
        assert!(requests.is_new("ns/other", Some("2")));
    }

    #[test]
    fn a_new_generation_or_a_success_starts_over() {
        let failures = Failures::default();
        let key = || "ns/db".to_owned();
        failures.record(key(), Some(1), Category::Transient);
        assert_eq!(
            failures.record(key(), Some(1), Category::Transient),
            Duration::from_secs(2)
        );
        assert_eq!(
            failures.record(key(), Some(2), Category::Transient),
            Duration::from_secs(1)
        );
        failures.reset("ns/db");
        assert_eq!(
            failures.record(key(), Some(2), Category::Transient),
            Duration::from_secs(1)
        );
    }
}
