//! HTX Cloud (`seeds/htx-api-guide.txt`, `seeds/htx-openapi.json`): databases, serverless
//! functions, SOCKS5 proxies and backups.

pub mod backup;
mod backup_plan;
pub mod client;
mod database;
mod function;
mod proxy;
pub mod schedule;
mod schedule_plan;
pub mod sim;

use futures::future::BoxFuture;
use kube::core::DeserializeGuard;
use kube::runtime::watcher;

use crate::api::{Backup, BackupSchedule, Database, Function, Provider, Proxy};
use crate::controller::{Scope, WakeRouter, Wiring};
use crate::http::{Dialect, PortalError, Session};
use crate::reconcile::{Snapshots, Timing};

use super::{ProviderModule, ProviderState};
use backup::BackupRequests;
use client::Htx;

/// Portal names: 3 to 63 lowercase letters, digits and hyphens, starting with a letter, not
/// ending with a hyphen. `spec.externalName` is checked by the schema; `metadata.name` is not.
fn check_portal_name(name: &str) -> Result<(), crate::reconcile::Error> {
    let valid = (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        return Ok(());
    }
    Err(crate::reconcile::Error::InvalidSpec {
        reason: "InvalidName",
        message: format!(
            "'{name}' is not a valid portal name (3 to 63 lowercase letters, digits and hyphens, starting with a letter): set spec.externalName to one"
        ),
    })
}

/// The naming part of `PortalKind` for an HTX kind whose spec embeds `portal_name`.
macro_rules! portal_named {
    () => {
        const NAME_FIELD: &'static str = "spec.externalName";

        fn wanted_name(&self) -> String {
            crate::reconcile::kind::external_or_own_name(
                self.spec.portal_name.external_name.as_deref(),
                self,
            )
        }

        fn check_name(name: &str) -> Result<(), crate::reconcile::Error> {
            super::check_portal_name(name)
        }
    };
}
use portal_named;

/// The HTX provider.
pub struct HtxProvider;

/// What the HTX reconciles of one operator process share.
pub struct HtxState {
    pub databases: Snapshots<client::Database>,
    pub functions: Snapshots<client::Function>,
    pub proxies: Snapshots<client::Proxy>,
    /// Backup lists and the per-database request locks of the Backup reconcile.
    pub backups: BackupRequests,
}

impl ProviderState for HtxState {
    fn forget_stale(&self) {
        self.databases.forget_stale();
        self.functions.forget_stale();
        self.proxies.forget_stale();
        self.backups.forget_stale();
    }
}

impl ProviderModule for HtxProvider {
    fn provider(&self) -> Provider {
        Provider::Htx
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &client::HtxDialect
    }

    fn default_url(&self) -> &'static str {
        client::DEFAULT_URL
    }

    fn default_rate_per_minute(&self) -> u32 {
        // The portal allows 120 per token, which may be shared with other clients.
        100
    }

    fn probe<'a>(&self, session: &'a Session) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move { Htx(session).list_proxies().await.map(drop) })
    }

    fn state(&self, timing: &Timing) -> Box<dyn ProviderState> {
        let age = timing.longest_snapshot_age();
        Box::new(HtxState {
            databases: Snapshots::serving_at_most(age),
            functions: Snapshots::serving_at_most(age),
            proxies: Snapshots::serving_at_most(age),
            backups: BackupRequests::serving_at_most(timing.poll),
        })
    }

    fn controllers(
        &self,
        scope: &Scope<'_>,
        wakes: &mut WakeRouter,
    ) -> Vec<BoxFuture<'static, ()>> {
        vec![
            scope.run::<Database>(wakes),
            scope.run::<Function>(wakes),
            scope.run::<Proxy>(wakes),
            scope.controller::<Backup>(
                wakes,
                Wiring {
                    watches: |controller, _| controller,
                    observe: |ctx, _, event| {
                        if let watcher::Event::Delete(DeserializeGuard(Ok(backup))) = event {
                            let (ctx, backup) = (ctx.clone(), backup.clone());
                            tokio::spawn(async move { backup::deleted(&ctx, &backup).await });
                        }
                    },
                },
            ),
            scope.controller::<BackupSchedule>(
                wakes,
                Wiring {
                    // A Backup that finishes may make an older one prunable.
                    watches: |controller, scope| {
                        controller.owns(scope.api::<Backup>(), watcher::Config::default())
                    },
                    observe: |_, _, _| {},
                },
            ),
        ]
    }
}
