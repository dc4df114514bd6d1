//! Starting and stopping the HTX simulator: its router served by the kit, and a clean shutdown
//! that flushes the state file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use tokio::task::JoinHandle;

use super::config::SimConfig;
use super::error::{SimError, error_response};
use super::handle::{Shared, SimHandle};
use super::stats::UNMATCHED_ROUTE;
use super::{hooks, persist, routes};
use crate::sim::serve::Serving;

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `listen` (port 0 picks a free port), loads the state file if configured and serves
    /// until [`RunningSim::shutdown`] (or until the `RunningSim` is dropped).
    pub async fn start(config: SimConfig, listen: SocketAddr) -> Result<RunningSim, SimError> {
        let shared = Arc::new(Shared::new(&config)?);
        if let Some(path) = &config.state_file
            && let Some(state) = persist::load(path)?
        {
            shared.store().load(state);
        }
        let serving = Serving::start(listen, app(shared.clone()))
            .await
            .map_err(|source| SimError::Bind {
                addr: listen,
                source,
            })?;
        let saver = config
            .state_file
            .clone()
            .map(|path| tokio::spawn(persist::saver(shared.clone(), path, serving.stopping())));
        tracing::info!(addr = %serving.addr(), tokens = config.tokens.len(), "portal simulator started");
        Ok(RunningSim {
            serving,
            handle: SimHandle { shared },
            saver,
            state_file: config.state_file,
        })
    }
}

/// Same as [`Simulator::start`].
pub async fn start(config: SimConfig, listen: SocketAddr) -> Result<RunningSim, SimError> {
    Simulator::start(config, listen).await
}

/// A simulator serving in the background.
#[derive(Debug)]
pub struct RunningSim {
    serving: Serving,
    handle: SimHandle,
    saver: Option<JoinHandle<u64>>,
    state_file: Option<PathBuf>,
}

impl RunningSim {
    /// The bound address (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.serving.addr()
    }

    /// `http://127.0.0.1:PORT` (a wildcard listen address is shown as loopback).
    pub fn url(&self) -> String {
        self.serving.url()
    }

    /// In-process test hooks.
    pub fn hooks(&self) -> &SimHandle {
        &self.handle
    }

    /// Stops accepting, releases held creates, finishes in-flight requests (at most 2 s) and
    /// writes the state file one last time.
    pub async fn shutdown(mut self) {
        self.handle.hold_creates(false);
        self.serving.stop().await;
        let mut saved = 0;
        if let Some(saver) = self.saver.take() {
            saved = saver.await.unwrap_or(0);
        }
        if let Some(path) = self.state_file.take() {
            let shared = self.handle.shared.clone();
            let p = path.clone();
            let result =
                tokio::task::spawn_blocking(move || persist::save(&shared, &p, saved)).await;
            if let Ok(Err(e)) = result {
                tracing::warn!(path = %path.display(), error = %e, "cannot save state");
            }
        }
        tracing::info!(addr = %self.serving.addr(), "portal simulator stopped");
    }
}

fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(routes::router(shared.clone()))
        .merge(hooks::router())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found(State(s): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    if !uri.path().starts_with("/_sim/") {
        s.stats.request(&method, UNMATCHED_ROUTE, 404);
    }
    error_response(
        StatusCode::NOT_FOUND,
        &format!("no route for {method} {}", uri.path()),
    )
}

/// 405 for the hooks (portal routes have their own, counted one).
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method {method} is not allowed on {}", uri.path()),
    )
}
