//! The stop signal (SIGTERM from the kubelet, or Ctrl-C), listened for from the first moment.
//!
//! Once tokio has installed its handler for a signal, that handler stays for the life of the
//! process: a SIGTERM arriving while nothing listens (between winning the Lease and the
//! controllers' first poll, say) would be swallowed, and the process would run on until killed.
//! One listener made at start, shared by everything that must stop, leaves no such gap.

use std::future::Future;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::signal::unix::{SignalKind, signal};

/// A stop asked for by a signal; cheap to clone.
#[derive(Clone)]
pub struct Shutdown(Shared<BoxFuture<'static, ()>>);

impl Shutdown {
    /// Installs the handlers now (inside the tokio runtime): a signal from here on is kept
    /// until someone awaits [`Self::requested`].
    pub fn listen() -> std::io::Result<Self> {
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let requested = async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        };
        Ok(Self(requested.boxed().shared()))
    }

    /// Resolves once a stop was asked for, also when it was asked before this was called.
    pub fn requested(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        self.0.clone()
    }
}
