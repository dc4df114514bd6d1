//! Starting and stopping the PaaS simulator: its router served by the kit.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;

use super::config::SimConfig;
use super::error::{SimError, detail_response};
use super::handle::{Shared, SimHandle};
use super::{hooks, routes};
use crate::sim::serve::Serving;
use crate::sim::stats::UNMATCHED_ROUTE;

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `listen` (port 0 picks a free port) and serves until [`RunningSim::shutdown`] (or
    /// until the `RunningSim` is dropped).
    pub async fn start(config: SimConfig, listen: SocketAddr) -> Result<RunningSim, SimError> {
        let shared = Arc::new(Shared::new(&config)?);
        let serving = Serving::start(listen, app(shared.clone()))
            .await
            .map_err(|source| SimError::Bind {
                addr: listen,
                source,
            })?;
        tracing::info!(addr = %serving.addr(), keys = config.keys.len(), "PaaS simulator started");
        Ok(RunningSim {
            serving,
            handle: SimHandle { shared },
        })
    }
}

/// A simulator serving in the background.
#[derive(Debug)]
pub struct RunningSim {
    serving: Serving,
    handle: SimHandle,
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

    /// Stops accepting and finishes the requests in flight (at most 2 s).
    pub async fn shutdown(mut self) {
        self.serving.stop().await;
        tracing::info!(addr = %self.serving.addr(), "PaaS simulator stopped");
    }
}

fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(routes::router(&shared))
        .merge(hooks::router())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found(State(s): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    if !uri.path().starts_with("/_sim/") {
        s.stats.requests().record(&method, UNMATCHED_ROUTE, 404);
    }
    detail_response(
        StatusCode::NOT_FOUND,
        &format!("no route for {method} {}", uri.path()),
    )
}

/// 405 for the hooks (API routes have their own, counted one).
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    detail_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method {method} is not allowed on {}", uri.path()),
    )
}
