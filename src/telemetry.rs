//! Logging, and the HTTP endpoints for the kubelet and Prometheus: `/healthz`, `/readyz`,
//! `/metrics`.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use kube::Resource;
use kube::runtime::reflector::Store;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Logs to stderr; `RUST_LOG` filters (default `info`), `HTX_LOG_FORMAT=json` switches to JSON.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("HTX_LOG_FORMAT").is_ok_and(|format| format == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// How often a controller cache that is not filled yet is looked at again.
const STORE_LOOK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// What this replica does, as far as it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Leader election has not read the Lease yet.
    Unknown = 0,
    /// Another replica holds the Lease; this one waits to take over.
    Standby = 1,
    /// This replica holds the Lease and runs the controllers.
    Leader = 2,
    /// No leader election: this replica runs the controllers.
    Single = 3,
}

/// The state `/readyz` reports.
#[derive(Debug)]
pub struct Health {
    role: AtomicU8,
    /// Controller caches registered but not yet filled by their first list.
    pending_stores: AtomicUsize,
    /// Controller caches registered so far.
    stores: AtomicUsize,
}

/// The health state of this process.
pub fn health() -> &'static Health {
    static HEALTH: OnceLock<Health> = OnceLock::new();
    HEALTH.get_or_init(|| Health {
        role: AtomicU8::new(Role::Unknown as u8),
        pending_stores: AtomicUsize::new(0),
        stores: AtomicUsize::new(0),
    })
}

impl Health {
    pub fn set_role(&self, role: Role) {
        self.role.store(role as u8, Ordering::SeqCst);
        crate::metrics::global().set_leader(matches!(role, Role::Leader | Role::Single));
    }

    pub fn role(&self) -> Role {
        match self.role.load(Ordering::SeqCst) {
            1 => Role::Standby,
            2 => Role::Leader,
            3 => Role::Single,
            _ => Role::Unknown,
        }
    }

    /// Holds readiness until `store` has its first complete list from the API server.
    ///
    /// The controllers register every store before any of them is polled (their watches start
    /// only when the controllers run), so "every registered store is ready" cannot be true while
    /// some are still to be registered.
    pub fn wait_for_store<K>(&self, store: Store<K>)
    where
        K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        self.stores.fetch_add(1, Ordering::SeqCst);
        self.pending_stores.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            // The Store's readiness wakes only the task that polled it last, and the controller
            // waits on it too: look again every so often rather than rely on being woken.
            loop {
                match tokio::time::timeout(STORE_LOOK_INTERVAL, store.wait_until_ready()).await {
                    Ok(Ok(())) => {
                        health().pending_stores.fetch_sub(1, Ordering::SeqCst);
                        return;
                    }
                    Ok(Err(_dropped)) => return,
                    Err(_elapsed) => {}
                }
            }
        });
    }

    /// `Ok` with what the replica does when it is ready, `Err` with what it waits for.
    pub fn readiness(&self) -> Result<&'static str, &'static str> {
        let controllers_ready = self.stores.load(Ordering::SeqCst) > 0
            && self.pending_stores.load(Ordering::SeqCst) == 0;
        match self.role() {
            Role::Unknown => Err("waiting to read the leader Lease"),
            Role::Standby => Ok("standby: another replica holds the leader Lease"),
            Role::Leader if controllers_ready => Ok("leader: controllers running"),
            Role::Single if controllers_ready => Ok("controllers running"),
            Role::Leader | Role::Single => Err("controllers starting: waiting for the first list"),
        }
    }
}

/// Binds the endpoints' address (`--metrics-addr`); port 0 picks a free one, which the log names.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "serving /healthz, /readyz and /metrics");
    Ok(listener)
}

/// Serves `/healthz` (the process answers), `/readyz` (see [`Health::readiness`]) and `/metrics`
/// until the process ends.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    axum::serve(listener, app).await
}

async fn readyz() -> impl IntoResponse {
    match health().readiness() {
        Ok(state) => (StatusCode::OK, format!("ok: {state}\n")),
        Err(waiting) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {waiting}\n"),
        ),
    }
}

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::global().encode(),
    )
}
