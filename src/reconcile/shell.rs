//! The one reconcile every kind runs in: a kind brings its [`Reconciled::drive`]; the shell gives
//! it a [`Run`] whose status writes build on the last status written, and reports a failure the
//! same way for every kind (a Warning Event, the failure conditions on top of what this reconcile
//! already wrote, a wake-up when the credentials it waits on change, the backoff count).

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::Session;

use super::context::Context;
use super::credentials::Located;
use super::error::Error;
use super::managed;
use super::report::{publish, write_status};
use super::tokens::{Credential, TokenLocation, Wake};

/// The parts of a status the shell maintains.
pub struct StatusParts<'a> {
    pub observed_generation: &'a mut Option<i64>,
    pub last_sync_time: &'a mut Option<Time>,
    pub conditions: &'a mut Vec<Condition>,
}

/// A kind the shell can reconcile.
pub trait Reconciled:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    type Status: Clone + Default + PartialEq + Serialize + Send + Sync;

    fn status(&self) -> Option<&Self::Status>;

    fn parts(status: &mut Self::Status) -> StatusParts<'_>;

    fn conditions(status: &Self::Status) -> &[Condition];

    /// The status after a failed reconcile. By default `Synced` says why, and `Ready` too unless
    /// the resource was Ready (as far as anyone knows, it still is).
    fn failed(status: &mut Self::Status, generation: Option<i64>, error: &Error) {
        let parts = Self::parts(status);
        *parts.conditions = managed::failed_conditions(parts.conditions, generation, error);
    }

    /// Observe, decide, act and report, writing status through `run`.
    fn drive(run: &mut Run<'_, Self>) -> impl Future<Output = Result<Action, Error>> + Send;
}

/// One reconcile of one object.
pub struct Run<'a, K: Reconciled> {
    pub object: &'a K,
    pub api: Api<K>,
    pub ctx: &'a Context,
    /// The status as stored after this reconcile's last write (as read, before any).
    status: K::Status,
    /// The object's resourceVersion after this reconcile's last write.
    resource_version: Option<String>,
    /// The credentials this reconcile used: a failure that a new credential fixes wakes the
    /// object when they change.
    credentials: Option<(TokenLocation, Option<String>)>,
}

impl<'a, K: Reconciled> Run<'a, K> {
    pub fn new(object: &'a K, ctx: &'a Context) -> Self {
        Self {
            api: Api::namespaced(ctx.kube.clone(), &object.namespace().unwrap_or_default()),
            status: object.status().cloned().unwrap_or_default(),
            resource_version: object.resource_version(),
            object,
            ctx,
            credentials: None,
        }
    }

    /// The status as stored now, as far as this reconcile knows.
    pub fn status(&self) -> &K::Status {
        &self.status
    }

    pub fn generation(&self) -> Option<i64> {
        self.object.meta().generation
    }

    /// The status as stored, with `wanted` conditions merged in.
    pub fn status_with(&self, wanted: &[super::conditions::Wanted]) -> K::Status {
        let mut status = self.status.clone();
        let conditions = K::parts(&mut status).conditions;
        *conditions =
            super::conditions::merge(conditions, wanted, self.generation(), Timestamp::now());
        status
    }

    /// Decides on the status as stored in the API server, not on the watch's copy, which may not
    /// show this process's last write yet. `None`: the object is gone, or is another one of the
    /// same name.
    pub async fn reread(&mut self) -> Result<Option<K>, Error> {
        let Some(stored) = self.api.get_opt(&self.object.name_any()).await? else {
            return Ok(None);
        };
        if stored.uid() != self.object.uid() {
            return Ok(None);
        }
        self.status = stored.status().cloned().unwrap_or_default();
        self.resource_version = stored.resource_version();
        Ok(Some(stored))
    }

    /// Writes `new` unless it equals the status stored (ignoring `lastSyncTime`, which moves only
    /// with a real change): a reconcile that changes nothing writes nothing.
    ///
    /// Every write is conditional on the object being as this reconcile read it (or last wrote
    /// it): a reconcile that started from a stale copy (the watch's cache lags, a watch was broken)
    /// is refused (409) instead of writing over newer status, and runs again on a fresh copy.
    pub async fn write(&mut self, mut new: K::Status) -> Result<(), Error> {
        let generation = self.generation();
        let mut current = self.status.clone();
        let last_sync = K::parts(&mut current).last_sync_time.clone();
        {
            let parts = K::parts(&mut new);
            *parts.observed_generation = generation;
            *parts.last_sync_time = last_sync;
        }
        if new == current {
            return Ok(());
        }
        *K::parts(&mut new).last_sync_time = Some(Time(Timestamp::now()));
        let written = write_status(
            &self.api,
            self.object,
            &new,
            self.resource_version.as_deref(),
        )
        .await?;
        self.resource_version = written.resource_version();
        self.status = new;
        Ok(())
    }

    /// Reads the credentials at `location` for this reconcile: a failure they explain wakes the
    /// object as soon as their Secret changes from the version read here.
    /// Reads the credential `located` names for this reconcile: a failure it explains wakes the
    /// object as soon as its Secret changes from the version read here. The operator's default
    /// credentials only where they serve the object's namespace.
    pub async fn credential(&mut self, located: &Located) -> Result<Credential, Error> {
        if located.by_default {
            let namespace = self.object.namespace().unwrap_or_default();
            self.ctx
                .default_scope
                .check(&self.ctx.kube, &namespace)
                .await?;
        }
        let credential = self.ctx.tokens.credential(&located.secret).await;
        self.credentials = Some((located.secret.clone(), credential.version.clone()));
        Ok(credential)
    }

    /// A session at the portal `located` names, with its credential (see [`Run::credential`]).
    pub async fn session(&mut self, located: &Located) -> Result<Session, Error> {
        let token = self.credential(located).await?.token?;
        Ok(self.ctx.portal.session(&located.portal, token))
    }

    pub async fn publish(&self, warning: bool, reason: &str, note: String) {
        publish(self.ctx, self.object, warning, reason, note).await;
    }

    /// A failed reconcile: wake-up on new credentials, the failure status, a Warning Event.
    /// Returns the error the reconcile ends with: a reconcile that worked from a stale copy ends
    /// with that conflict (retried shortly), and reports nothing of what it decided on it.
    async fn report(&mut self, error: Error) -> Error {
        if error.is_stale_copy() {
            tracing::debug!(object = %self.object.name_any(), "worked from a stale copy: again");
            return error;
        }
        if error.waits_on_token()
            && let Some((location, version)) = self.credentials.clone()
        {
            self.ctx
                .token_waits
                .wait_for_change(location, version, Wake::of(self.object));
        }
        if let Error::ProviderConfigMissing { name } | Error::ProviderConfigNotReady { name, .. } =
            &error
        {
            let namespace = self.object.namespace().unwrap_or_default();
            self.ctx
                .provider_configs
                .wait_for(&namespace, name, Wake::of(self.object));
        }
        let mut status = self.status.clone();
        K::failed(&mut status, self.generation(), &error);
        match self.write(status).await {
            Err(write_error) if write_error.is_stale_copy() => return write_error,
            Err(write_error) => {
                tracing::warn!(object = %self.object.name_any(), error = %write_error, "could not write status");
            }
            Ok(()) => {}
        }
        self.publish(true, error.reason(), error.to_string()).await;
        error
    }
}

/// Reconciles one object of kind `K`.
pub async fn reconcile<K: Reconciled>(object: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut run = Run::new(&*object, &ctx);
    match K::drive(&mut run).await {
        Ok(action) => {
            ctx.failures.reset(&object_key(&*object));
            Ok(action)
        }
        Err(error) => Err(run.report(error).await),
    }
}

/// An object its kind cannot read (stored under an older or looser CRD, or written around the
/// schema): said on the object, as a condition and a Warning Event, and left until it changes.
/// The watch of the kind goes on with every other object.
pub async fn unreadable<K: Reconciled>(
    guard: &DeserializeGuard<K>,
    invalid: &InvalidObject,
    ctx: &Context,
) -> Result<Action, Error> {
    let message = format!(
        "the operator cannot read this {}: {}; fix it to match the schema (kubectl explain {})",
        K::kind(&()),
        crate::http::scrub(&invalid.error, "", &[]),
        K::plural(&()).to_lowercase(),
    );
    let generation = guard.meta().generation;
    let conditions = super::conditions::merge(
        &[],
        &[super::conditions::Wanted::ready(
            false,
            "InvalidObject",
            message.clone(),
        )],
        generation,
        Timestamp::now(),
    );
    let api: Api<DeserializeGuard<K>> =
        Api::namespaced(ctx.kube.clone(), &guard.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "status": {"observedGeneration": generation, "conditions": conditions}
    });
    api.patch_status(
        &guard.name_any(),
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(patch),
    )
    .await?;
    publish(ctx, guard, true, "InvalidObject", message).await;
    Ok(Action::await_change())
}

/// Requeues a failed object after a backoff that grows with its consecutive failures (every
/// kind's error policy).
pub fn error_policy<K: Resource<DynamicType = ()>>(
    object: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let delay = ctx.failures.record(
        object_key(&*object),
        object.meta().generation,
        error.category(),
    );
    tracing::info!(
        kind = K::kind(&()).as_ref(),
        object = %object.name_any(),
        reason = error.reason(),
        retry_in_s = delay.as_secs(),
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// `Kind/namespace/name`: the key of an object in the per-object records.
pub fn object_key<K: Resource<DynamicType = ()>>(object: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        object.meta().namespace.as_deref().unwrap_or_default(),
        object.name_any()
    )
}
