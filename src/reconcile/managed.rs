//! What every managed kind's reconcile shares around the pure decision: reading the object's
//! state, the token, status building, and the steps that do not depend on the product.

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::api::{
    FINALIZER, ManagedSpec, ManagedStatus, PAUSED_ANNOTATION, RECONCILE_REQUESTED_ANNOTATION,
    TokenSecretRef,
};
use crate::portal::{Lifecycle, TokenClient};

use super::conditions::{self, READY, SYNCED, Wanted};
use super::context::{Context, Timing};
use super::error::Error;
use super::kind::HasManagedStatus;
use super::plan::{Desired, Recorded};
use super::report::{self, publish, write_status};
use super::tokens::TokenLocation;

/// The parts of an object the decision reads.
pub struct ObjectState<'a> {
    wanted_name: String,
    spec: &'a ManagedSpec,
    status: Option<&'a ManagedStatus>,
    paused: bool,
    deleting: bool,
    has_finalizer: bool,
    resync_request: Option<String>,
}

impl<'a> ObjectState<'a> {
    pub fn of<K: Resource>(
        object: &'a K,
        spec: &'a ManagedSpec,
        status: Option<&'a ManagedStatus>,
    ) -> Self {
        let meta = object.meta();
        Self {
            wanted_name: spec
                .external_name
                .clone()
                .or_else(|| meta.name.clone())
                .unwrap_or_default(),
            spec,
            status,
            paused: is_paused(object),
            deleting: meta.deletion_timestamp.is_some(),
            has_finalizer: meta
                .finalizers
                .as_ref()
                .is_some_and(|f| f.iter().any(|f| f == FINALIZER)),
            resync_request: resync_request(object).map(str::to_owned),
        }
    }

    pub fn desired(&self) -> Desired<'_> {
        Desired {
            name: &self.wanted_name,
            policy: self.spec.management_policy(),
            deletion: self.spec.deletion_policy(),
            adopt: self.spec.adopt_existing(),
            paused: self.paused,
            deleting: self.deleting,
            has_finalizer: self.has_finalizer,
        }
    }

    pub fn recorded(&self) -> Recorded<'_> {
        self.status
            .map_or_else(Recorded::default, |status| Recorded {
                bound_name: status.external_name.as_deref(),
                id: status.id.as_deref(),
                create_requested: status.create_requested_at.is_some(),
            })
    }

    /// The portal name to look at: the bound one once there is one.
    pub fn lookup_name(&self) -> &str {
        self.status
            .and_then(|s| s.external_name.as_deref())
            .unwrap_or(&self.wanted_name)
    }

    /// Status says the portal resource should exist.
    pub fn expects_remote(&self) -> bool {
        self.status
            .is_some_and(|s| s.id.is_some() || s.create_requested_at.is_some())
    }

    /// The oldest portal snapshot this reconcile may decide on. Objects that are Ready and in
    /// sync accept one as old as the resync interval; the others (creating, failing, deleting)
    /// want one no older than the poll interval; a new `reconcile-requested-at` wants one taken
    /// now.
    pub fn snapshot_not_before(&self, timing: &Timing, resync_requested: bool) -> Instant {
        let now = Instant::now();
        let settled = self.status.is_some_and(|s| {
            conditions::is_true(&s.conditions, READY) && conditions::is_true(&s.conditions, SYNCED)
        });
        let max_age = if resync_requested {
            Duration::ZERO
        } else if settled && !self.deleting {
            timing.resync
        } else {
            timing.poll
        };
        now.checked_sub(max_age).unwrap_or(now)
    }

    /// The `reconcile-requested-at` annotation's value, if any.
    pub fn resync_request(&self) -> Option<&str> {
        self.resync_request.as_deref()
    }
}

/// `htx.vinacis.com/paused: "true"`: no portal calls for the object.
pub fn is_paused<K: Resource>(object: &K) -> bool {
    object
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(PAUSED_ANNOTATION))
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

/// The `reconcile-requested-at` annotation's value, if any.
pub fn resync_request<K: Resource>(object: &K) -> Option<&str> {
    object
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(RECONCILE_REQUESTED_ANNOTATION))
        .map(String::as_str)
}

/// Where the object's token lives.
pub fn token_location<K: Resource>(ctx: &Context, object: &K, spec: &ManagedSpec) -> TokenLocation {
    token_location_of(ctx, object, spec.token_secret_ref.as_ref())
}

/// Where the token of an object with this `tokenSecretRef` (or none) lives.
pub fn token_location_of<K: Resource>(
    ctx: &Context,
    object: &K,
    reference: Option<&TokenSecretRef>,
) -> TokenLocation {
    let namespace = object.meta().namespace.as_deref().unwrap_or_default();
    TokenLocation::for_object(namespace, reference, &ctx.default_token)
}

/// The portal client for the object's token.
pub async fn token_client<K: Resource>(
    ctx: &Context,
    object: &K,
    spec: &ManagedSpec,
) -> Result<TokenClient, Error> {
    client_at(ctx, &token_location(ctx, object, spec)).await
}

/// The portal client for the token at `location`.
pub async fn client_at(ctx: &Context, location: &TokenLocation) -> Result<TokenClient, Error> {
    let token = ctx.tokens.token(location).await?;
    Ok(ctx.portal.with_token(token))
}

/// Portal names: 3 to 63 lowercase letters, digits and hyphens, starting with a letter, not
/// ending with a hyphen. `spec.externalName` is checked by the schema; `metadata.name` is not.
pub fn check_portal_name(state: &ObjectState) -> Result<(), Error> {
    let name = state.lookup_name();
    let valid = (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        return Ok(());
    }
    Err(Error::InvalidSpec {
        reason: "InvalidName",
        message: format!(
            "'{name}' is not a valid portal name (3 to 63 lowercase letters, digits and hyphens, starting with a letter): set spec.externalName to one"
        ),
    })
}

pub fn name_changed(state: &ObjectState, bound: &str) -> Error {
    Error::InvalidSpec {
        reason: "ExternalNameImmutable",
        message: format!(
            "spec.externalName asks for '{}' but this object is bound to the portal resource '{bound}', and the name cannot change: set it back",
            state.desired().name
        ),
    }
}

/// The status recorded just before a create call.
pub fn intent(current: &ManagedStatus, name: &str, generation: Option<i64>) -> ManagedStatus {
    let now = Timestamp::now();
    ManagedStatus {
        observed_generation: generation,
        conditions: conditions::merge(
            &current.conditions,
            &[Wanted::ready(
                false,
                "Creating",
                format!("asking the portal to create '{name}'"),
            )],
            generation,
            now,
        ),
        external_name: Some(name.to_owned()),
        id: None,
        state: None,
        create_requested_at: Some(Time(now)),
        last_sync_time: current.last_sync_time.clone(),
    }
}

/// The Ready condition for a portal status string.
pub fn ready_from(lifecycle: Lifecycle, raw: &str, noun: &str) -> Wanted {
    match lifecycle {
        Lifecycle::Ready => Wanted::ready(true, "Available", format!("the {noun} is {raw}")),
        Lifecycle::InProgress => Wanted::ready(
            false,
            "Creating",
            format!("the portal reports the {noun} as '{raw}'"),
        ),
        Lifecycle::Failed => Wanted::ready(
            false,
            "Failed",
            format!("the portal reports the {noun} as '{raw}'"),
        ),
    }
}

/// The shared status after mirroring a portal resource.
pub fn mirrored(
    current: &ManagedStatus,
    state: &ObjectState,
    generation: Option<i64>,
    (id, raw_state): (&str, &str),
    wanted: &[Wanted],
) -> ManagedStatus {
    ManagedStatus {
        observed_generation: generation,
        conditions: conditions::merge(&current.conditions, wanted, generation, Timestamp::now()),
        external_name: Some(state.lookup_name().to_owned()),
        id: if id.is_empty() {
            current.id.clone()
        } else {
            Some(id.to_owned())
        },
        state: Some(raw_state.to_owned()),
        create_requested_at: current.create_requested_at.clone(),
        last_sync_time: current.last_sync_time.clone(),
    }
}

/// The shared status after a failed reconcile: Synced says why; Ready too, unless the resource
/// was Ready (it still is, as far as anyone knows).
pub fn failed(current: &ManagedStatus, generation: Option<i64>, error: &Error) -> ManagedStatus {
    ManagedStatus {
        observed_generation: generation,
        conditions: failed_conditions(&current.conditions, generation, error),
        ..current.clone()
    }
}

/// The conditions after a failed reconcile, for any kind: Synced says why; Ready too, unless
/// it was True.
pub fn failed_conditions(
    current: &[Condition],
    generation: Option<i64>,
    error: &Error,
) -> Vec<Condition> {
    let message = error.to_string();
    let mut wanted = vec![Wanted::synced(false, error.reason(), message.clone())];
    if !conditions::is_true(current, READY) {
        wanted.push(Wanted::ready(false, error.reason(), message));
    }
    conditions::merge(current, &wanted, generation, Timestamp::now())
}

/// Writes `new` unless it equals `current` (ignoring `lastSyncTime`): a reconcile that changes
/// nothing writes nothing, so a resync of settled objects costs the API server nothing.
pub async fn write_if_changed<K, S>(
    api: &Api<K>,
    object: &K,
    current: &S,
    mut new: S,
    generation: Option<i64>,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: HasManagedStatus,
{
    new.managed_mut().observed_generation = generation;
    new.managed_mut().last_sync_time = current.managed().last_sync_time.clone();
    if new == *current {
        return Ok(());
    }
    new.managed_mut().last_sync_time = Some(Time(Timestamp::now()));
    write_status(api, object, &new).await?;
    Ok(())
}

/// When to look again after mirroring.
pub fn requeue_for(lifecycle: Lifecycle, timing: &Timing) -> Action {
    match lifecycle {
        Lifecycle::InProgress => Action::requeue(timing.poll),
        Lifecycle::Ready | Lifecycle::Failed => Action::requeue(timing.resync),
    }
}

/// Paused: say so in status and wait for the annotation to change.
pub async fn paused<K, S>(object: &K, api: &Api<K>, status: S) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: HasManagedStatus,
{
    let mut new = status.clone();
    let generation = object.meta().generation;
    let wanted = [Wanted::ready(
        false,
        "Paused",
        format!(
            "reconciliation is paused by the {PAUSED_ANNOTATION} annotation: no portal calls are made"
        ),
    )];
    let managed = new.managed_mut();
    managed.conditions =
        conditions::merge(&managed.conditions, &wanted, generation, Timestamp::now());
    managed.observed_generation = generation;
    if new != status {
        write_status(api, object, &new).await?;
    }
    Ok(Action::await_change())
}

/// Removes the finalizer when nothing (more) is to be deleted at the portal, and says why.
pub async fn release<K>(
    object: &K,
    api: &Api<K>,
    ctx: &Context,
    name: &str,
    orphaned: bool,
    foreign: bool,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let (reason, note) = if orphaned {
        (
            "Orphaned",
            format!(
                "left the portal resource '{name}' in place (deletionPolicy: Orphan or managementPolicy: Observe)"
            ),
        )
    } else if foreign {
        (
            "LeftInPlace",
            format!("the portal resource '{name}' was never this object's: left in place"),
        )
    } else {
        (
            "Deleted",
            format!("the portal resource '{name}' is already gone"),
        )
    };
    publish(ctx, object, false, reason, note).await;
    report::remove_finalizer(api, object).await?;
    tracing::info!(object = %object.name_any(), reason, "released");
    Ok(Action::await_change())
}
