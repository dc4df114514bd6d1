//! Wires the reconcilers to the API server: watches, shared context, error policy, shutdown.

use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt, controller, reflector, watcher};
use kube::{Api, Resource};
use tokio::sync::mpsc;

use crate::api::{PAUSED_ANNOTATION, ProviderConfig, RECONCILE_REQUESTED_ANNOTATION};
use crate::http::{ClientSettings, PortalClient, SetupError};
use crate::providers::{self, ProviderStates};
use crate::reconcile::credentials::{Defaults, ProviderConfigs};
use crate::reconcile::{
    self, Bindings, Context, DefaultScope, EventRecorder, Failures, PortalKind, Reconciled,
    ResyncRequests, SecretWatch, Timing, TokenSource, Wake,
};
use crate::shutdown::Shutdown;

/// How the operator runs.
pub struct RunConfig {
    pub client: ClientSettings,
    /// Each provider's portal and default credentials.
    pub defaults: Defaults,
    /// The namespaces the default credentials serve.
    pub default_scope: DefaultScope,
    pub timing: Timing,
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
    /// Reconciles running at once, per kind.
    pub concurrency: u16,
    /// This replica's name, as the reporting instance of its Events.
    pub instance: String,
    /// When to stop: the controllers finish the reconciles under way, then end.
    pub shutdown: Shutdown,
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
    let (waker, woken) = mpsc::unbounded_channel();
    let context = Arc::new(Context {
        token_waits: SecretWatch::new(waker.clone()),
        waker,
        portal: PortalClient::new(config.client.clone())?,
        tokens: TokenSource::new(kube.clone()),
        defaults: config.defaults,
        default_scope: config.default_scope,
        provider_configs: ProviderConfigs::default(),
        bindings: Bindings::default(),
        states: ProviderStates::new(&config.timing),
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
        namespaces = ?config.namespaces,
        resync_s = config.timing.resync.as_secs(),
        providers = ?providers::ALL.iter().map(|p| p.provider().as_str()).collect::<Vec<_>>(),
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
            shutdown: &config.shutdown,
        };
        controllers.push(scope.controller::<ProviderConfig>(
            &mut wakes,
            Wiring {
                watches: |controller, _| controller,
                observe: |ctx, _, event| {
                    if let Some(event) = valid(event) {
                        ctx.provider_configs.observe(&event, &ctx.waker);
                    }
                },
            },
        ));
        for provider in providers::ALL {
            controllers.extend(provider.controllers(&scope, &mut wakes));
        }
    }
    tokio::spawn(wakes.run());
    let abandon = async {
        config.shutdown.requested().await;
        tokio::time::sleep(STOP_GRACE).await;
    };
    tokio::select! {
        _ = futures::future::join_all(controllers) => {}
        () = abandon => tracing::warn!(grace_s = STOP_GRACE.as_secs(), "reconciles still running after the stop's grace: abandoned"),
    }
    tracing::info!("htx-operator stopped");
    Ok(())
}

/// The event with its object decoded, `None` for an object its kind cannot read.
fn valid<K: Clone>(event: &watcher::Event<DeserializeGuard<K>>) -> Option<watcher::Event<K>> {
    let object = |guard: &DeserializeGuard<K>| guard.0.as_ref().ok().cloned();
    Some(match event {
        watcher::Event::Apply(guard) => watcher::Event::Apply(object(guard)?),
        watcher::Event::InitApply(guard) => watcher::Event::InitApply(object(guard)?),
        watcher::Event::Delete(guard) => watcher::Event::Delete(object(guard)?),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    })
}

/// How long a stop waits for a kind's first list (see [`stop_once_listed`]); what still runs
/// after [`STOP_GRACE`] is abandoned, inside a pod's default grace period of 30 s.
const FIRST_LIST_WAIT: Duration = Duration::from_secs(10);
const STOP_GRACE: Duration = Duration::from_secs(20);

/// How often Secrets that objects wait on are checked for a new token.
const SECRET_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// How often what nothing can use any more is dropped (see `Context::forget_stale`).
const FORGET_INTERVAL: Duration = Duration::from_secs(60);

/// Where one set of controllers watches: every namespace, or one.
pub struct Scope<'a> {
    kube: &'a kube::Client,
    namespace: Option<String>,
    context: &'a Arc<Context>,
    concurrency: u16,
    shutdown: &'a Shutdown,
}

/// What the controller of one kind needs besides the watch itself (see [`Scope::controller`]).
/// Objects are watched as [`DeserializeGuard`]s: one the kind cannot read is reported on itself
/// and never stops the watch of the others.
pub struct Wiring<K: Resource<DynamicType = ()> + Clone + Debug + 'static> {
    /// Further watches that trigger a reconcile, e.g. of owned objects.
    pub watches: fn(Guarded<K>, &Scope<'_>) -> Guarded<K>,
    /// Told of every event of the watch (after the cache took it), with the number of the
    /// watch stream.
    pub observe: fn(&Arc<Context>, usize, &watcher::Event<DeserializeGuard<K>>),
}

/// The controller of a kind, over objects that may not decode.
pub type Guarded<K> = Controller<DeserializeGuard<K>>;

/// Numbers the watch streams, for the relists of the binding index.
static STREAMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Scope<'_> {
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        match &self.namespace {
            Some(namespace) => Api::namespaced(self.kube.clone(), namespace),
            None => Api::all(self.kube.clone()),
        }
    }

    /// The controller of the portal kind `K` in this scope (the shared reconcile).
    pub fn run<K: PortalKind>(&self, wakes: &mut WakeRouter) -> BoxFuture<'static, ()> {
        self.controller(
            wakes,
            Wiring {
                watches: |controller, _| controller,
                observe: |ctx, stream, event| {
                    ctx.bindings
                        .observe(stream, event, |guard: &DeserializeGuard<K>| {
                            reconcile::driver::binding(ctx, guard.0.as_ref().ok()?)
                        });
                    if let Some(event) = valid(event) {
                        ctx.provider_configs.track_users(&event, |object: &K| {
                            reconcile::driver::provider_config_user(object)
                        });
                    }
                },
            },
        )
    }

    /// The controller of kind `K` in this scope, as a future that ends on shutdown: the watch,
    /// the token-Secret wake-ups, the metrics, the shared error policy.
    pub fn controller<K: Reconciled>(
        &self,
        wakes: &mut WakeRouter,
        wiring: Wiring<K>,
    ) -> BoxFuture<'static, ()> {
        let woken = wakes.route(K::kind(&()).into_owned(), self.namespace.clone());
        let (reader, writer) = reflector::store::<DeserializeGuard<K>>();
        crate::metrics::track_objects(&reader, ready_of::<K>);
        let context = self.context.clone();
        let observe = wiring.observe;
        let stream = STREAMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let objects = watcher(
            self.api::<DeserializeGuard<K>>(),
            watcher::Config::default().any_semantic(),
        )
        .default_backoff()
        .modify(trim_for_cache)
        .reflect(writer)
        .inspect(move |event| {
            if let Ok(event) = event {
                if let watcher::Event::Delete(object) = event {
                    context.forget(object);
                }
                observe(&context, stream, event);
            }
        })
        .applied_objects()
        .predicate_filter(worth_reconciling, PredicateConfig::default());
        let woken = futures::stream::unfold(woken, |mut woken| async move {
            let wake = woken.recv().await?;
            Some((
                ObjectRef::<DeserializeGuard<K>>::new(&wake.name).within(&wake.namespace),
                woken,
            ))
        });
        let stop = stop_once_listed(self.shutdown, reader.clone());
        let controller = Controller::for_stream(objects, reader)
            .with_config(controller::Config::default().concurrency(self.concurrency));
        (wiring.watches)(controller, self)
            .reconcile_on(woken)
            .graceful_shutdown_on(stop)
            .run(
                |guard, ctx| {
                    crate::metrics::instrument(K::kind(&()), reconcile_guarded(guard, ctx))
                },
                reconcile::error_policy::<DeserializeGuard<K>>,
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

/// The graceful stop of one controller: once asked for, and once its cache was first filled.
/// A graceful stop cuts the watch off, and a controller whose cache was never filled would wait
/// for it for ever: a SIGTERM in the first moments after start would hang the process.
fn stop_once_listed<K>(
    shutdown: &Shutdown,
    cache: reflector::Store<K>,
) -> impl Future<Output = ()> + Send + Sync + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let requested = shutdown.requested();
    async move {
        requested.await;
        if tokio::time::timeout(FIRST_LIST_WAIT, cache.wait_until_ready())
            .await
            .is_err()
        {
            tracing::warn!(kind = %K::kind(&()), "stopping before the first list of this kind came");
        }
    }
    .boxed()
    .shared()
}

/// Reconciles an object the kind can read; reports one it cannot.
async fn reconcile_guarded<K: Reconciled>(
    guard: Arc<DeserializeGuard<K>>,
    ctx: Arc<Context>,
) -> Result<Action, reconcile::Error> {
    match &guard.0 {
        Ok(object) => reconcile::reconcile(Arc::new(object.clone()), ctx).await,
        Err(invalid) => reconcile::unreadable(&*guard, invalid, &ctx).await,
    }
}

/// The object's Ready condition, for the managed-objects metric (`None` for an unreadable one).
fn ready_of<K: Reconciled>(guard: &DeserializeGuard<K>) -> Option<bool> {
    let object = guard.0.as_ref().ok()?;
    crate::metrics::ready_of(K::conditions(object.status()?))
}

/// Sends each woken object to the controller of its kind watching its namespace.
pub struct WakeRouter {
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
    use crate::api::{Database, DatabaseSpec};
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
