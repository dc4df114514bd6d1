//! Serving: our own accept loop over hyper connections, so a fault can drop a connection
//! without any response, and a clean shutdown that flushes the state file.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::config::SimConfig;
use super::error::{SimError, error_response};
use super::handle::{Shared, SimHandle};
use super::stats::UNMATCHED_ROUTE;
use super::{hooks, persist, routes};

/// Lets a request handler close its own connection without a response.
#[derive(Debug, Default)]
pub(crate) struct ConnCtl {
    dropped: Notify,
}

impl ConnCtl {
    pub(crate) fn drop_now(&self) {
        self.dropped.notify_one();
    }
}

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
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr()?;
        let app = app(shared.clone());
        let (tx, rx) = watch::channel(false);
        let saver = config
            .state_file
            .clone()
            .map(|path| tokio::spawn(persist::saver(shared.clone(), path, rx.clone())));
        let server = tokio::spawn(accept_loop(listener, app, rx));
        tracing::info!(%addr, tokens = config.tokens.len(), "portal simulator started");
        Ok(RunningSim {
            addr,
            handle: SimHandle { shared },
            shutdown: tx,
            server: Some(server),
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
    addr: SocketAddr,
    handle: SimHandle,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    saver: Option<JoinHandle<u64>>,
    state_file: Option<PathBuf>,
}

impl RunningSim {
    /// The bound address (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (a wildcard listen address is shown as loopback).
    pub fn url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// In-process test hooks.
    pub fn hooks(&self) -> &SimHandle {
        &self.handle
    }

    /// Stops accepting, releases held creates, finishes in-flight requests (at most 2 s) and
    /// writes the state file one last time.
    pub async fn shutdown(mut self) {
        self.handle.hold_creates(false);
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
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
        tracing::info!(addr = %self.addr, "portal simulator stopped");
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
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

async fn accept_loop(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_connection(stream, peer, app.clone(), shutdown.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        conns.abort_all();
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let ctl = Arc::new(ConnCtl::default());
    let service = ConnService {
        app,
        peer,
        ctl: ctl.clone(),
    };
    let mut conn = pin!(
        http1::Builder::new()
            .timer(TokioTimer::new())
            // No idle timeout: closing a pooled keep-alive connection races with a client
            // reusing it, which would show up as spurious network errors in tests.
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(stream), service)
    );
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            // Returning drops the connection: the socket closes without a response.
            _ = ctl.dropped.notified() => return,
            _ = shutdown.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Adapts the router to hyper, adding the peer address and the connection control.
#[derive(Clone)]
struct ConnService {
    app: Router,
    peer: SocketAddr,
    ctl: Arc<ConnCtl>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = <Router as tower_service::Service<hyper::Request<Incoming>>>::Future;

    fn call(&self, mut req: hyper::Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        req.extensions_mut().insert(self.ctl.clone());
        let mut app = self.app.clone();
        tower_service::Service::call(&mut app, req)
    }
}
