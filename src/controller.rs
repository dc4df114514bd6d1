//! Wires the reconcilers to the API server: watches, shared context, error policy, shutdown.

use std::fmt::Debug;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt, controller, reflector, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::api::{
    Backup, BackupSchedule, Database, Function, PAUSED_ANNOTATION, Proxy,
    RECONCILE_REQUESTED_ANNOTATION,
};
use crate::portal::{PortalClient, PortalConfig, SetupError};
use crate::reconcile::{
    self, Context, EventRecorder, Failures, PortalKind, ResyncRequests, SecretWatch, Snapshots,
    Timing, TokenLocation, TokenSource, Wake,
};

/// How the operator runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub portal: PortalConfig,
    pub default_token: TokenLocation,
    pub timing: Timing,
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
    /// Reconciles running at once, per kind.
    pub concurrency: u16,
    /// This replica's name, as the reporting instance of its Events.
    pub instance: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot connect to Kubernetes (in-cluster config or KUBECONFIG): {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot set up the portal client: {0}")]
    Portal(#[from] SetupError),
}

/// Runs every controller until a termination signal.
pub async fn run(config: RunConfig) -> Result<(), RunError> {
    let kube = crate::kube_client::connect().await?;
    let (token_waits, woken) = SecretWatch::new();
    let context = Arc::new(Context {
        token_waits,
        portal: PortalClient::new(config.portal.clone())?,
        tokens: TokenSource::new(kube.clone()),
        default_token: config.default_token.clone(),
        databases: Snapshots::serving_at_most(config.timing.longest_snapshot_age()),
        functions: Snapshots::serving_at_most(config.timing.longest_snapshot_age()),
        proxies: Snapshots::serving_at_most(config.timing.longest_snapshot_age()),
        backups: reconcile::backup::BackupRequests::serving_at_most(config.timing.poll),
        recorder: EventRecorder::new(kube.clone(), config.instance.clone()),
        timing: config.timing,
        failures: Failures::default(),
        resync_requests: ResyncRequests::default(),
        kube: kube.clone(),
    });
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    tracing::info!(
        portal = %config.portal.base_url,
        namespaces = ?config.namespaces,
        resync_s = config.timing.resync.as_secs(),
        rate_per_minute = config.portal.budget.requests,
        "htx-operator starting"
    );
    let watcher_context = context.clone();
    tokio::spawn(async move {
        let ctx = &watcher_context;
        ctx.token_waits.run(&ctx.tokens, SECRET_POLL_INTERVAL).await;
    });
    let sweeping_context = context.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(FORGET_INTERVAL);
        loop {
            ticks.tick().await;
            sweeping_context.forget_stale();
        }
    });
    let mut wakes = WakeRouter::new(woken);
    let mut controllers = Vec::new();
    for namespace in scopes {
        let scope = Scope {
            kube: &kube,
            namespace,
            context: &context,
            concurrency: config.concurrency,
        };
        controllers.push(scope.run::<Database>(&mut wakes));
        controllers.push(scope.run::<Function>(&mut wakes));
        controllers.push(scope.run::<Proxy>(&mut wakes));
        controllers.push(scope.controller(
            &mut wakes,
            Wiring {
                reconcile: reconcile::reconcile::<Backup>,
                ready: |backup: &Backup| {
                    crate::metrics::ready_of(&backup.status.as_ref()?.conditions)
                },
                watches: |controller, _| controller,
                deleted: |ctx, backup| {
                    tokio::spawn(async move { reconcile::backup::deleted(&ctx, &backup).await });
                },
            },
        ));
        controllers.push(scope.controller(
            &mut wakes,
            Wiring {
                reconcile: reconcile::reconcile::<BackupSchedule>,
                ready: |schedule: &BackupSchedule| {
                    crate::metrics::ready_of(&schedule.status.as_ref()?.conditions)
                },
                // A Backup that finishes may make an older one prunable.
                watches: |controller, scope| {
                    controller.owns(scope.api::<Backup>(), watcher::Config::default())
                },
                deleted: |_, _| {},
            },
        ));
    }
    tokio::spawn(wakes.run());
    futures::future::join_all(controllers).await;
    tracing::info!("htx-operator stopped");
    Ok(())
}

/// How often Secrets that objects wait on are checked for a new token.
const SECRET_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// How often what nothing can use any more is dropped (see `Context::forget_stale`).
const FORGET_INTERVAL: Duration = Duration::from_secs(60);

/// Where one set of controllers watches: every namespace, or one.
struct Scope<'a> {
    kube: &'a kube::Client,
    namespace: Option<String>,
    context: &'a Arc<Context>,
    concurrency: u16,
}

/// What the controller of one kind needs besides the watch itself (see [`Scope::controller`]).
struct Wiring<K: Resource<DynamicType = ()> + Clone + Debug + 'static, R> {
    reconcile: R,
    /// The object's Ready condition, for the managed-objects metric.
    ready: fn(&K) -> Option<bool>,
    /// Further watches that trigger a reconcile, e.g. of owned objects.
    watches: fn(Controller<K>, &Scope<'_>) -> Controller<K>,
    /// Told of every object the watch sees deleted.
    deleted: fn(Arc<Context>, K),
}

impl Scope<'_> {
    fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        match &self.namespace {
            Some(namespace) => Api::namespaced(self.kube.clone(), namespace),
            None => Api::all(self.kube.clone()),
        }
    }

    /// The controller of the portal kind `K` in this scope (the shared reconcile).
    fn run<K: PortalKind>(&self, wakes: &mut WakeRouter) -> BoxFuture<'static, ()> {
        self.controller(
            wakes,
            Wiring {
                reconcile: reconcile::reconcile::<K>,
                ready: |object: &K| {
                    let status = reconcile::HasManagedStatus::managed(object.status()?);
                    crate::metrics::ready_of(&status.conditions)
                },
                watches: |controller, _| controller,
                deleted: |_, _| {},
            },
        )
    }

    /// The controller of kind `K` in this scope, as a future that ends on shutdown: the watch,
    /// the token-Secret wake-ups, the metrics, the shared error policy.
    fn controller<K, R, F>(
        &self,
        wakes: &mut WakeRouter,
        wiring: Wiring<K, R>,
    ) -> BoxFuture<'static, ()>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + Debug
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
        R: Fn(Arc<K>, Arc<Context>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Action, reconcile::Error>> + Send + 'static,
    {
        let woken = wakes.route(K::kind(&()).into_owned(), self.namespace.clone());
        let (reader, writer) = reflector::store();
        crate::metrics::track_objects(&reader, wiring.ready);
        let context = self.context.clone();
        let deleted = wiring.deleted;
        let objects = watcher(self.api::<K>(), watcher::Config::default().any_semantic())
            .default_backoff()
            .modify(trim_for_cache)
            .reflect(writer)
            .inspect(move |event| {
                if let Ok(watcher::Event::Delete(object)) = event {
                    context.forget(object);
                    deleted(context.clone(), object.clone());
                }
            })
            .applied_objects()
            .predicate_filter(worth_reconciling, PredicateConfig::default());
        let woken = futures::stream::unfold(woken, |mut woken| async move {
            let wake = woken.recv().await?;
            Some((
                ObjectRef::<K>::new(&wake.name).within(&wake.namespace),
                woken,
            ))
        });
        let reconcile = wiring.reconcile;
        let controller = Controller::for_stream(objects, reader)
            .with_config(controller::Config::default().concurrency(self.concurrency));
        (wiring.watches)(controller, self)
            .reconcile_on(woken)
            .shutdown_on_signal()
            .run(
                move |object, ctx| crate::metrics::instrument(K::kind(&()), reconcile(object, ctx)),
                reconcile::error_policy::<K>,
                self.context.clone(),
            )
            .for_each(|result| async move {
                if let Err(error) = result {
                    tracing::debug!(%error, "reconcile ended with an error");
                }
            })
            .boxed()
    }
}

/// Sends each woken object to the controller of its kind watching its namespace.
struct WakeRouter {
    woken: mpsc::UnboundedReceiver<Wake>,
    routes: Vec<(String, Option<String>, mpsc::UnboundedSender<Wake>)>,
}

impl WakeRouter {
    fn new(woken: mpsc::UnboundedReceiver<Wake>) -> Self {
        Self {
            woken,
            routes: Vec::new(),
        }
    }

    /// A channel for the controller of `kind` in `namespace` (`None`: every namespace).
    fn route(&mut self, kind: String, namespace: Option<String>) -> mpsc::UnboundedReceiver<Wake> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.routes.push((kind, namespace, sender));
        receiver
    }

    async fn run(mut self) {
        while let Some(wake) = self.woken.recv().await {
            let route = self.routes.iter().find(|(kind, namespace, _)| {
                *kind == wake.kind && namespace.as_ref().is_none_or(|ns| *ns == wake.namespace)
            });
            if let Some((_, _, sender)) = route {
                let _ = sender.send(wake);
            }
        }
    }
}

/// Drops what the reconciles never read from the cached copy: managedFields, and kubectl's copy
/// of the last applied manifest (the size of the whole object again).
fn trim_for_cache<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
}

const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A fingerprint of what can change a decision: the spec (generation), the finalizers, the
/// deletion mark and the operator's annotations. The operator's own status writes leave it
/// unchanged, so they do not trigger another reconcile.
fn worth_reconciling<K: Resource>(object: &K) -> Option<u64> {
    let meta = object.meta();
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    meta.deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .hash(&mut hasher);
    for key in [PAUSED_ANNOTATION, RECONCILE_REQUESTED_ANNOTATION] {
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .hash(&mut hasher);
    }
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DatabaseSpec;
    use kube::ResourceExt;

    fn database() -> Database {
        let spec: DatabaseSpec =
            serde_json::from_value(serde_json::json!({"engine": "mysql", "sku": "db-s-1vcpu-1gb"}))
                .unwrap();
        Database::new("app", spec)
    }

    #[test]
    fn the_cached_copy_keeps_what_reconciles_read() {
        let mut db = database();
        db.metadata.managed_fields = Some(vec![Default::default()]);
        db.annotations_mut()
            .insert(LAST_APPLIED_ANNOTATION.into(), "{...}".into());
        db.annotations_mut()
            .insert(PAUSED_ANNOTATION.into(), "true".into());
        trim_for_cache(&mut db);
        assert_eq!(db.metadata.managed_fields, None);
        assert_eq!(
            db.annotations().keys().collect::<Vec<_>>(),
            [PAUSED_ANNOTATION]
        );
        assert_eq!(db.spec.sku, "db-s-1vcpu-1gb");
    }

    #[test]
    fn status_writes_do_not_trigger_but_annotations_do() {
        let mut db = database();
        db.metadata.generation = Some(1);
        let before = worth_reconciling(&db);
        db.status = Some(Default::default());
        db.metadata.resource_version = Some("42".into());
        assert_eq!(worth_reconciling(&db), before);
        db.annotations_mut()
            .insert(RECONCILE_REQUESTED_ANNOTATION.into(), "now".into());
        assert_ne!(worth_reconciling(&db), before);
    }
}
