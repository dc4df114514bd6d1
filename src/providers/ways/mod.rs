//! WaysCloud Databases (`seeds/wayscloud-databases-api.txt`): PostgreSQL and MariaDB databases,
//! their snapshots and restores.

pub mod client;
mod database;
mod password;
mod restore;
mod settings;
pub mod sim;
mod snapshot;
mod snapshot_plan;
mod source;

use futures::future::BoxFuture;

use crate::api::{Provider, WaysDatabase, WaysRestore, WaysSnapshot};
use crate::controller::{Scope, WakeRouter, Wiring};
use crate::http::{Dialect, PortalError, Session};
use crate::reconcile::{Snapshots, Timing};

use super::{ProviderModule, ProviderState};
use client::Ways;

/// The WaysCloud provider.
pub struct WaysProvider;

/// What the WaysCloud reconciles of one operator process share.
pub struct WaysState {
    /// The database lists, one per database type and key.
    pub databases: Snapshots<client::Database>,
    /// The snapshot lists of the databases WaysSnapshots follow, one per database and key.
    pub snapshots: Snapshots<client::Snapshot>,
}

impl ProviderState for WaysState {
    fn forget_stale(&self) {
        self.databases.forget_stale();
        self.snapshots.forget_stale();
    }
}

impl ProviderModule for WaysProvider {
    fn provider(&self) -> Provider {
        Provider::WaysCloud
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &client::WaysDialect
    }

    fn default_url(&self) -> &'static str {
        client::DEFAULT_URL
    }

    fn default_rate_per_minute(&self) -> u32 {
        // Undocumented (see client::assumed): the design's example.
        60
    }

    fn probe<'a>(&self, session: &'a Session) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move { Ways(session).quota().await.map(drop) })
    }

    fn state(&self, timing: &Timing) -> Box<dyn ProviderState> {
        Box::new(WaysState {
            databases: Snapshots::serving_at_most(timing.longest_snapshot_age()),
            snapshots: Snapshots::serving_at_most(timing.longest_snapshot_age()),
        })
    }

    fn controllers(
        &self,
        scope: &Scope<'_>,
        wakes: &mut WakeRouter,
    ) -> Vec<BoxFuture<'static, ()>> {
        vec![
            scope.run::<WaysDatabase>(wakes),
            scope.controller::<WaysSnapshot>(wakes, plain()),
            scope.controller::<WaysRestore>(wakes, plain()),
        ]
    }
}

/// The wiring of a kind that watches nothing else and needs no word of its events.
fn plain<K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + 'static>() -> Wiring<K> {
    Wiring {
        watches: |controller, _| controller,
        observe: |_, _, _| {},
    }
}
