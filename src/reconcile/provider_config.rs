//! The ProviderConfig reconcile: Ready once its credentials authenticated at its portal with one
//! cheap read (the provider's own), and kept, with its credentials Secret, while an object still
//! needs it to delete its portal resource.

use std::future::Future;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::api::{FINALIZER, ProviderConfig, ProviderConfigStatus};
use crate::providers;

use super::conditions::{self, Wanted};
use super::credentials::{Located, config_portal, config_secret};
use super::error::Error;
use super::report;
use super::shell::{Reconciled, Run, StatusParts};

impl Reconciled for ProviderConfig {
    type Status = ProviderConfigStatus;

    fn status(&self) -> Option<&ProviderConfigStatus> {
        self.status.as_ref()
    }

    fn conditions(status: &ProviderConfigStatus) -> &[Condition] {
        &status.conditions
    }

    fn parts(status: &mut ProviderConfigStatus) -> StatusParts<'_> {
        StatusParts {
            observed_generation: &mut status.observed_generation,
            last_sync_time: &mut status.last_sync_time,
            conditions: &mut status.conditions,
        }
    }

    /// Whatever failed, the credentials are not known to work.
    fn failed(status: &mut ProviderConfigStatus, generation: Option<i64>, error: &Error) {
        let wanted = [Wanted::ready(false, error.reason(), error.to_string())];
        status.conditions =
            conditions::merge(&status.conditions, &wanted, generation, Timestamp::now());
    }

    fn drive(
        run: &mut Run<'_, ProviderConfig>,
    ) -> impl Future<Output = Result<Action, Error>> + Send {
        drive(run)
    }
}

async fn drive(run: &mut Run<'_, ProviderConfig>) -> Result<Action, Error> {
    let config = run.object;
    let ctx = run.ctx;
    let uid = config.uid().unwrap_or_default();
    let secret = config_secret(config);
    if config.metadata.deletion_timestamp.is_some() {
        return release_when_unused(run).await;
    }
    if !config.finalizers().iter().any(|f| f == FINALIZER) {
        report::add_finalizer(&run.api, config).await?;
        return Ok(Action::await_change());
    }
    let portal = config_portal(&ctx.defaults, config).map_err(|error| Error::InvalidSpec {
        reason: "InvalidSpec",
        message: error.to_string(),
    })?;
    // Its Secret stays as long as it does (a namespace deleted as a whole deletes both).
    match ctx.tokens.protect(&secret, &uid).await {
        Err(kube::Error::Api(status)) if status.code != 404 && status.code != 422 => {
            return Err(kube::Error::Api(status).into());
        }
        _ => {}
    }
    let url = portal.base_url().to_owned();
    let located = Located {
        portal,
        secret,
        by_default: false,
    };
    let session = run.session(&located).await?;
    providers::module(config.spec.provider)
        .probe(&session)
        .await?;
    let mut status = run.status().clone();
    let wanted = [Wanted::ready(
        true,
        "Authenticated",
        format!("the credentials authenticated at {url}"),
    )];
    status.conditions = conditions::merge(
        &status.conditions,
        &wanted,
        run.generation(),
        Timestamp::now(),
    );
    status.url = Some(url);
    run.write(status).await?;
    Ok(Action::requeue(ctx.timing.resync))
}

/// Being deleted: kept while objects still use it, then its Secret is let go and it goes.
async fn release_when_unused(run: &mut Run<'_, ProviderConfig>) -> Result<Action, Error> {
    let config = run.object;
    let ctx = run.ctx;
    if !config.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let users = ctx.provider_configs.users(config);
    if users > 0 {
        let mut status = run.status().clone();
        let message = format!(
            "being deleted: kept while {users} object(s) of this namespace still use it to delete their portal resources"
        );
        let wanted = [Wanted::new("Deleting", false, "InUse", message)];
        status.conditions = conditions::merge(
            &status.conditions,
            &wanted,
            run.generation(),
            Timestamp::now(),
        );
        run.write(status).await?;
        return Ok(Action::requeue(ctx.timing.poll));
    }
    ctx.tokens
        .release(&config_secret(config), &config.uid().unwrap_or_default())
        .await?;
    report::remove_finalizer(&run.api, config).await?;
    Ok(Action::await_change())
}
