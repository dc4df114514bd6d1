//! The PaaS public API (`seeds/paas-public-api.txt`): projects and their secrets, databases,
//! redis, web services and buckets. Ids are server UUIDs and names repeat freely, so every create follows the shared
//! rule for that (`PortalKind::NAMES_UNIQUE`).

mod bucket;
pub mod client;
mod datastore;
mod parent;
mod project;
mod secret_bindings;
pub mod sim;
mod values;
mod web_service;

use futures::future::BoxFuture;

use crate::api::{PaasBucket, PaasDatabase, PaasProject, PaasRedis, PaasWebService, Provider};
use crate::controller::{Scope, WakeRouter};
use crate::http::{Dialect, PortalError, Session};
use crate::reconcile::{Snapshots, Timing};

use super::{ProviderModule, ProviderState};
use client::Paas;

/// The PaaS provider.
pub struct PaasProvider;

/// What the PaaS reconciles of one operator process share.
pub struct PaasState {
    /// The project lists, one per key.
    pub projects: Snapshots<client::Project>,
    /// The database and redis lists, one per key.
    pub databases: Snapshots<client::Datastore>,
    pub redis: Snapshots<client::Datastore>,
    pub web_services: Snapshots<client::WebService>,
    pub buckets: Snapshots<client::Bucket>,
}

impl ProviderState for PaasState {
    fn forget_stale(&self) {
        self.projects.forget_stale();
        self.databases.forget_stale();
        self.redis.forget_stale();
        self.web_services.forget_stale();
        self.buckets.forget_stale();
    }
}

impl ProviderModule for PaasProvider {
    fn provider(&self) -> Provider {
        Provider::Paas
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &client::PaasDialect
    }

    fn default_url(&self) -> &'static str {
        client::assumed::DEFAULT_URL
    }

    fn default_rate_per_minute(&self) -> u32 {
        client::assumed::DEFAULT_RATE_PER_MINUTE
    }

    fn probe<'a>(&self, session: &'a Session) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move { Paas(session).list_projects().await.map(drop) })
    }

    fn state(&self, timing: &Timing) -> Box<dyn ProviderState> {
        Box::new(PaasState {
            projects: Snapshots::serving_at_most(timing.longest_snapshot_age()),
            databases: Snapshots::serving_at_most(timing.longest_snapshot_age()),
            redis: Snapshots::serving_at_most(timing.longest_snapshot_age()),
            web_services: Snapshots::serving_at_most(timing.longest_snapshot_age()),
            buckets: Snapshots::serving_at_most(timing.longest_snapshot_age()),
        })
    }

    fn controllers(
        &self,
        scope: &Scope<'_>,
        wakes: &mut WakeRouter,
    ) -> Vec<BoxFuture<'static, ()>> {
        vec![
            scope.run::<PaasProject>(wakes),
            scope.run::<PaasDatabase>(wakes),
            scope.run::<PaasRedis>(wakes),
            scope.run::<PaasWebService>(wakes),
            scope.run::<PaasBucket>(wakes),
        ]
    }
}
