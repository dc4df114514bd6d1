//! Prometheus metrics, served at `/metrics` (see [`crate::telemetry`]).
//!
//! One registry per process ([`global`]), with a small API for the callers: the controllers wrap
//! each reconcile in [`instrument`] and register their caches with [`track_objects`]; the portal
//! client reports every response and every wait at the limiter; the leader election reports the
//! role. Every label value comes from a set the code fixes: kinds, route templates, HTTP status
//! codes, error reasons, Ready states. Never an object name, a token or an error text.

use std::borrow::Cow;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::http::{Endpoint, Priority};

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    kind: Cow<'static, str>,
    /// `success` or `error`.
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileErrorLabels {
    kind: Cow<'static, str>,
    /// The condition/Event reason: a fixed CamelCase word per error.
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    /// The path template, e.g. `/api/portal/databases/{name}`.
    route: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    /// The HTTP status code, or `none` when no response came (connection failed, timed out).
    code: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KubeRequestLabels {
    /// `get` (a get or a list), `watch`, `create`, `patch`, `update`, `delete` or `other`.
    verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PriorityLabels {
    /// `write` (creates and deletes, served first) or `read`.
    priority: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    kind: Cow<'static, str>,
    /// The `Ready` condition's status: `True`, `False` or `Unknown` (none yet).
    ready: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Reconciles take milliseconds to tens of seconds (a portal call waiting at the limiter).
fn reconcile_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.5, 12))
}

/// One portal exchange: milliseconds to the 30 s timeout.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.5, 12))
}

/// The limiter hands out permits at once, or after up to a minute (a spent budget, a 429 pause).
fn wait_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 3.0, 12))
}

/// Every metric of the operator.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_errors: Family<ReconcileErrorLabels, Counter>,
    reconcile_duration: HistogramFamily<KindLabels>,
    portal_requests: Family<RequestLabels, Counter>,
    portal_request_duration: HistogramFamily<RouteLabels>,
    rate_limited: Family<RouteLabels, Counter>,
    limiter_wait: HistogramFamily<PriorityLabels>,
    kube_requests: Family<KubeRequestLabels, Counter>,
    leader: Gauge,
    census: std::sync::Arc<Census>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry (tests use their own; the operator uses [`global`]).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("htx");
        let metrics = Self {
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(reconcile_buckets),
            portal_requests: Family::default(),
            portal_request_duration: Family::new_with_constructor(request_buckets),
            rate_limited: Family::default(),
            limiter_wait: Family::new_with_constructor(wait_buckets),
            kube_requests: Family::default(),
            leader: Gauge::default(),
            census: std::sync::Arc::new(Census::default()),
            registry: Registry::default(),
        };
        registry.register(
            "reconciles",
            "Reconciles finished, by kind and result (success or error)",
            metrics.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error, by kind and reason (the condition reason)",
            metrics.reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long one reconcile took, by kind",
            metrics.reconcile_duration.clone(),
        );
        registry.register(
            "portal_requests",
            "Portal HTTP exchanges, by route template, method and status code (none: no response)",
            metrics.portal_requests.clone(),
        );
        registry.register(
            "portal_request_duration_seconds",
            "How long one portal HTTP exchange took, by route template and method",
            metrics.portal_request_duration.clone(),
        );
        registry.register(
            "portal_rate_limited",
            "Portal answers 429 Too Many Requests, by route template and method",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "portal_limiter_wait_seconds",
            "Time a portal request waited for its token's budget, by priority (write or read)",
            metrics.limiter_wait.clone(),
        );
        registry.register(
            "kube_requests",
            "Requests sent to the Kubernetes API server, by verb (get counts lists too)",
            metrics.kube_requests.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease (or runs without leader election)",
            metrics.leader.clone(),
        );
        registry.register(
            "build",
            "The operator's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register_collector(Box::new(metrics.census.clone()));
        Self {
            registry,
            ..metrics
        }
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// One reconcile of `kind` ended after `elapsed`; `Err` carries the error's reason.
    pub fn reconciled(
        &self,
        kind: Cow<'static, str>,
        elapsed: Duration,
        outcome: Result<(), &'static str>,
    ) {
        let result = if outcome.is_ok() { "success" } else { "error" };
        self.reconciles
            .get_or_create(&ReconcileLabels {
                kind: kind.clone(),
                result,
            })
            .inc();
        if let Err(reason) = outcome {
            self.reconcile_errors
                .get_or_create(&ReconcileErrorLabels {
                    kind: kind.clone(),
                    reason,
                })
                .inc();
        }
        self.reconcile_duration
            .get_or_create(&KindLabels { kind })
            .observe(elapsed.as_secs_f64());
    }

    /// One portal exchange on `route` ended: `code` is the HTTP status, `None` when no response
    /// came.
    pub fn portal_response(&self, endpoint: &Endpoint, code: Option<u16>, elapsed: Duration) {
        let (route_label, method) = (endpoint.template, endpoint.verb.as_str());
        let code = match code {
            Some(code) => Cow::Owned(code.to_string()),
            None => Cow::Borrowed("none"),
        };
        if code == "429" {
            self.rate_limited
                .get_or_create(&RouteLabels {
                    route: route_label,
                    method,
                })
                .inc();
        }
        self.portal_requests
            .get_or_create(&RequestLabels {
                route: route_label,
                method,
                code,
            })
            .inc();
        self.portal_request_duration
            .get_or_create(&RouteLabels {
                route: route_label,
                method,
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A portal request waited `waited` for a permit of its token's limiter.
    pub fn limiter_waited(&self, priority: Priority, waited: Duration) {
        let priority = match priority {
            Priority::Write => "write",
            Priority::Read => "read",
        };
        self.limiter_wait
            .get_or_create(&PriorityLabels { priority })
            .observe(waited.as_secs_f64());
    }

    /// Whether this replica is the one running the controllers.
    /// One request to the Kubernetes API server (see [`crate::kube_client`]).
    pub fn kube_request(&self, verb: &'static str) {
        self.kube_requests
            .get_or_create(&KubeRequestLabels { verb })
            .inc();
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Counts the objects in `store` by their Ready state at every scrape (`htx_managed_objects`).
    /// `ready` reads an object's Ready condition (see [`ready_of`]).
    pub fn track_objects<K>(&self, store: &Store<K>, ready: fn(&K) -> Option<bool>)
    where
        K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let kind: Cow<'static, str> = K::kind(&()).into_owned().into();
        let store = store.clone();
        self.census
            .sources
            .lock()
            .expect("census sources")
            .push(Box::new(move || {
                let mut counts = ReadyCounts::default();
                for object in store.state() {
                    counts.add(ready(&object));
                }
                (kind.clone(), counts)
            }));
    }
}

/// The metrics of this process.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Counts `store`'s objects by Ready state in the global registry, and holds `/readyz` until the
/// store has its first complete list.
pub fn track_objects<K>(store: &Store<K>, ready: fn(&K) -> Option<bool>)
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    global().track_objects(store, ready);
    crate::telemetry::health().wait_for_store(store.clone());
}

/// The `Ready` condition as a metric reads it: `Some(true)` for `True`, `Some(false)` for `False`,
/// `None` when there is none (or it is `Unknown`).
pub fn ready_of(conditions: &[Condition]) -> Option<bool> {
    match conditions
        .iter()
        .find(|c| c.type_ == "Ready")?
        .status
        .as_str()
    {
        "True" => Some(true),
        "False" => Some(false),
        _ => None,
    }
}

/// An error that can name itself with a bounded label.
pub trait ErrorReason {
    /// A fixed word per kind of error (the condition reason), never the error's text.
    fn reason(&self) -> &'static str;
}

impl ErrorReason for crate::reconcile::Error {
    fn reason(&self) -> &'static str {
        crate::reconcile::Error::reason(self)
    }
}

/// Runs one reconcile of `kind`, counting it by result and timing it.
pub async fn instrument<T, E: ErrorReason>(
    kind: Cow<'static, str>,
    reconcile: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = reconcile.await;
    let outcome = match &result {
        Ok(_) => Ok(()),
        Err(error) => Err(error.reason()),
    };
    global().reconciled(kind, started.elapsed(), outcome);
    result
}

#[derive(Debug, Default, Clone, Copy)]
struct ReadyCounts {
    ready: i64,
    not_ready: i64,
    unknown: i64,
}

impl ReadyCounts {
    fn add(&mut self, ready: Option<bool>) {
        match ready {
            Some(true) => self.ready += 1,
            Some(false) => self.not_ready += 1,
            None => self.unknown += 1,
        }
    }
}

type Source = Box<dyn Fn() -> (Cow<'static, str>, ReadyCounts) + Send + Sync>;

/// Counts managed objects at scrape time from the controllers' caches, so deleted objects
/// disappear from the count without bookkeeping.
#[derive(Default)]
struct Census {
    sources: Mutex<Vec<Source>>,
}

impl std::fmt::Debug for Census {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Census").finish_non_exhaustive()
    }
}

impl Collector for Census {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let family = Family::<ObjectLabels, Gauge>::default();
        for source in self.sources.lock().expect("census sources").iter() {
            let (kind, counts) = source();
            for (ready, count) in [
                ("True", counts.ready),
                ("False", counts.not_ready),
                ("Unknown", counts.unknown),
            ] {
                family
                    .get_or_create(&ObjectLabels {
                        kind: kind.clone(),
                        ready,
                    })
                    .inc_by(count);
            }
        }
        let metric = encoder.encode_descriptor(
            "managed_objects",
            "Objects the operator manages, by kind and Ready condition status",
            None,
            family.metric_type(),
        )?;
        family.encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::htx::client::Route;

    fn line_value(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
    }

    #[test]
    fn reconciles_are_counted_by_kind_result_and_reason() {
        let metrics = Metrics::new();
        metrics.reconciled("Database".into(), Duration::from_millis(20), Ok(()));
        metrics.reconciled("Database".into(), Duration::from_millis(5), Ok(()));
        metrics.reconciled(
            "Database".into(),
            Duration::from_millis(5),
            Err("Unauthorized"),
        );
        let text = metrics.encode();
        assert_eq!(
            line_value(
                &text,
                r#"htx_reconciles_total{kind="Database",result="success"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"htx_reconcile_errors_total{kind="Database",reason="Unauthorized"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"htx_reconcile_duration_seconds_count{kind="Database"}"#
            ),
            Some(3.0)
        );
        assert!(text.contains("htx_build_info{version="), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn portal_responses_are_counted_by_route_template_and_code() {
        let metrics = Metrics::new();
        let get = Route::GetDatabase.endpoint();
        let create = Route::CreateDatabase.endpoint();
        metrics.portal_response(&get, Some(200), Duration::from_millis(3));
        metrics.portal_response(&get, Some(429), Duration::from_millis(3));
        metrics.portal_response(&create, None, Duration::from_secs(30));
        metrics.limiter_waited(Priority::Write, Duration::from_millis(1500));
        let text = metrics.encode();
        assert_eq!(
            line_value(
                &text,
                r#"htx_portal_requests_total{route="/api/portal/databases/{name}",method="GET",code="200"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"htx_portal_rate_limited_total{route="/api/portal/databases/{name}",method="GET"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"htx_portal_requests_total{route="/api/portal/databases",method="POST",code="none"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"htx_portal_limiter_wait_seconds_sum{priority="write"}"#
            ),
            Some(1.5)
        );
    }

    #[test]
    fn managed_objects_are_counted_from_the_cache_at_every_scrape() {
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::runtime::{reflector, watcher};

        let metrics = Metrics::new();
        let (store, mut writer) = reflector::store::<ConfigMap>();
        // Stand-in kind: a ConfigMap's `ready` data key plays the Ready condition.
        metrics.track_objects(&store, |cm: &ConfigMap| {
            cm.data.as_ref()?.get("ready").map(|v| v == "True")
        });
        let object = |name: &str, ready: Option<&str>| {
            let mut cm = ConfigMap::default();
            cm.metadata.name = Some(name.into());
            cm.metadata.namespace = Some("ns".into());
            cm.data = ready.map(|r| [("ready".to_owned(), r.to_owned())].into());
            cm
        };
        for (name, ready) in [
            ("a", Some("True")),
            ("b", Some("True")),
            ("c", Some("False")),
            ("d", None),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(object(name, ready)));
        }
        let text = metrics.encode();
        let count = |text: &str, ready: &str| {
            line_value(
                text,
                &format!(r#"htx_managed_objects{{kind="ConfigMap",ready="{ready}"}}"#),
            )
        };
        assert_eq!(count(&text, "True"), Some(2.0), "{text}");
        assert_eq!(count(&text, "False"), Some(1.0));
        assert_eq!(count(&text, "Unknown"), Some(1.0));

        writer.apply_watcher_event(&watcher::Event::Delete(object("a", Some("True"))));
        assert_eq!(count(&metrics.encode(), "True"), Some(1.0));
    }

    #[test]
    fn ready_is_read_from_the_ready_condition() {
        let condition = |type_: &str, status: &str| Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "R".into(),
            message: String::new(),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ),
            observed_generation: None,
        };
        assert_eq!(ready_of(&[]), None);
        assert_eq!(
            ready_of(&[condition("Synced", "False"), condition("Ready", "True")]),
            Some(true)
        );
        assert_eq!(ready_of(&[condition("Ready", "False")]), Some(false));
        assert_eq!(ready_of(&[condition("Ready", "Unknown")]), None);
    }
}
