//! Serving a simulator's router: our own accept loop over hyper connections, so a fault can
//! close a connection without any answer, and a clean shutdown.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Lets a request handler close its own connection without an answer. Every request served by
/// [`Serving`] carries one in its extensions, with the peer's `ConnectInfo<SocketAddr>`.
#[derive(Debug, Default)]
pub struct ConnCtl {
    dropped: Notify,
}

impl ConnCtl {
    pub fn drop_now(&self) {
        self.dropped.notify_one();
    }
}

/// A router served in the background until [`Serving::stop`] (or until dropped).
#[derive(Debug)]
pub struct Serving {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl Serving {
    /// Binds `listen` (port 0 picks a free port) and serves `app` there.
    pub async fn start(listen: SocketAddr, app: Router) -> io::Result<Serving> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = watch::channel(false);
        let server = tokio::spawn(accept_loop(listener, app, rx));
        Ok(Serving {
            addr,
            shutdown,
            server: Some(server),
        })
    }

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

    /// Changes to `true` when serving stops (for tasks that must finish with it).
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops accepting and finishes the requests in flight (at most 2 s).
    pub async fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
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
            // Returning drops the connection: the socket closes without an answer.
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
