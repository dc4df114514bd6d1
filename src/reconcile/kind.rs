//! What a kind of portal resource (Database, Function, Proxy) brings to the shared reconcile:
//! how to list, create and delete it at the portal, and how to read what the portal returns.

use std::fmt::Debug;
use std::future::Future;

use futures::future::BoxFuture;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use kube::runtime::controller::Action;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::api::{ManagedSpec, ManagedStatus, Ownership, Provider};
use crate::http::{PortalError, Session};

use super::conditions::Wanted;
use super::context::Context;
use super::error::Error;
use super::shell::{Reconciled, Run, StatusParts};
use super::snapshot::Snapshots;

/// A status type of a managed kind: it embeds the shared part.
pub trait HasManagedStatus: Clone + Default + PartialEq + Serialize + Send + Sync {
    fn managed(&self) -> &ManagedStatus;
    fn managed_mut(&mut self) -> &mut ManagedStatus;
}

pub trait PortalKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    type Status: HasManagedStatus;
    /// The provider whose portal holds it.
    const PROVIDER: Provider;
    /// The portal's representation.
    type Remote: Clone + Send + Sync + 'static;
    /// The word users read in messages: "database", "function", "proxy".
    const NOUN: &'static str;

    /// Where the spec names the portal resource, for messages: "spec.externalName".
    const NAME_FIELD: &'static str;

    fn managed_spec(&self) -> &ManagedSpec;
    fn status(&self) -> Option<&Self::Status>;
    fn status_mut(&mut self) -> &mut Option<Self::Status>;

    /// The name the object asks for at the portal (its spec's, else one made of its own name).
    fn wanted_name(&self) -> String;

    /// Refuses a name the portal would refuse, before any call.
    fn check_name(name: &str) -> Result<(), Error>;

    /// The snapshots of this product, shared by every object of the kind.
    fn snapshots(ctx: &Context) -> &Snapshots<Self::Remote>;

    /// Which of the product's lists holds this object's resource, where the portal lists it in
    /// parts (by database type, say): each part is listed, and cached, on its own.
    fn list_part(&self) -> &'static str {
        ""
    }

    fn list(
        client: &Session,
        part: &'static str,
    ) -> impl Future<Output = Result<Vec<Self::Remote>, PortalError>> + Send;

    /// Creates `name` at the portal; `None` when the portal accepted without returning it.
    fn create(
        &self,
        client: &Session,
        name: &str,
    ) -> impl Future<Output = Result<Option<Self::Remote>, PortalError>> + Send;

    /// Deletes the resource `name`, as last seen at the portal (`None`: not in its lists).
    fn delete(
        &self,
        client: &Session,
        name: &str,
        seen: Option<&Self::Remote>,
    ) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// Asks the portal about one name, where it has a route for that (`None`: it has not). The
    /// answer is authoritative: `Ok(None)` means the portal said 404.
    const LOOK_UP: Option<LookUp<Self::Remote>>;

    /// The portal refuses a second resource under a taken name. Where it does not (PaaS: server
    /// UUIDs, names shared freely), the resource is bound by its id once known, found by name
    /// (see [`Self::is_candidate`]) only after this object's own create, and a create whose answer
    /// was lost is never sent again (see [`recovery`](super::recovery)).
    const NAMES_UNIQUE: bool = true;

    /// The portal has a delete route for it. Without one (a PaaS project), deleting the object
    /// always leaves the resource in place, with an Event saying so, and `delete` is never called.
    const CAN_DELETE: bool = true;

    /// The portal renames the resource by its id ([`Self::rename`]): a changed name of an object
    /// bound by id (only where names repeat) is applied in place, unless another resource that
    /// [`Self::is_candidate`] for the new name exists; without it a changed name is refused.
    const RENAMES_BY_ID: bool = false;

    /// Renames `remote` to `name` (only called where [`Self::RENAMES_BY_ID`]).
    fn rename(
        &self,
        client: &Session,
        remote: &Self::Remote,
        name: &str,
    ) -> impl Future<Output = Result<(), PortalError>> + Send {
        let _ = (client, remote, name);
        async { unreachable!("only kinds that rename by id are asked to") }
    }

    /// [`Self::converge`] runs for a resource the portal reports failed too (a web service whose
    /// deployment failed is mended by a new one).
    const CONVERGES_WHEN_FAILED: bool = false;

    /// Could `remote` be what this object's create of `name` made? By default: it has the name.
    /// A kind whose resources live inside a parent (a project) checks the parent too.
    fn is_candidate(&self, remote: &Self::Remote, name: &str) -> bool {
        Self::remote_name(remote) == name
    }

    /// The object, in this namespace, whose portal resource this one lives in (a project), when
    /// the portal counts names per parent: one name in two parents is two resources.
    fn parent(&self) -> Option<&str> {
        None
    }

    fn remote_name(remote: &Self::Remote) -> &str;
    fn remote_id(remote: &Self::Remote) -> &str;
    /// The portal's raw status string.
    fn remote_state(remote: &Self::Remote) -> &str;

    /// A few words on what is created, for the Created Event: "(postgresql db-s-1vcpu-2gb)".
    fn describe(&self) -> String;

    /// Refuses free-form `parameters` that would set what the operator sets itself (the name, a
    /// typed field): they would create something this object never finds.
    fn check_parameters(&self) -> Result<(), Error> {
        Ok(())
    }

    /// What the spec asks for that differs at the portal and cannot be changed in place.
    fn drift(&self, remote: &Self::Remote) -> Vec<String>;

    /// The connection details for `writeConnectionSecretToRef`, when the portal returned any.
    fn connection(remote: &Self::Remote) -> Option<Map<String, Value>>;

    /// The kind's status after mirroring `remote`, around the shared part already computed.
    fn mirrored(remote: &Self::Remote, managed: ManagedStatus) -> Self::Status;

    /// What must be known before the portal is asked anything about the object (a parent's
    /// id, recorded in status), each reconcile while it is not being deleted or paused.
    /// `Some(action)`: the reconcile ends there (waiting for the parent, or status just written).
    fn prepare(
        run: &mut Run<'_, Self>,
    ) -> impl Future<Output = Result<Option<Action>, Error>> + Send {
        let _ = run;
        async { Ok(None) }
    }

    /// What a kind changes in place once its resource is ready (or stopped, as asked) (settings, rules, credentials),
    /// filling its part of `status` (the status about to be written, with the shared part as
    /// before).
    fn converge(
        run: &mut Run<'_, Self>,
        client: &Session,
        held: Held<'_, Self::Remote>,
        status: &mut Self::Status,
    ) -> impl Future<Output = Result<Converged, Error>> + Send {
        let _ = (run, client, held, status);
        async { Ok(Converged::default()) }
    }
}

/// A portal resource the object holds, as this reconcile saw it.
#[derive(Debug)]
pub struct Held<'a, R> {
    pub remote: &'a R,
    pub ownership: Ownership,
    /// `remote` is the portal's answer to this reconcile's create.
    pub fresh: bool,
}

impl<R> Clone for Held<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Held<'_, R> {}

/// What [`PortalKind::converge`] found: conditions of its own (one of type Synced replaces the
/// shared one) and how soon it needs to look again (a rotation due, say).
#[derive(Debug, Default)]
pub struct Converged {
    pub conditions: Vec<Wanted>,
    pub look_again_within: Option<std::time::Duration>,
}

/// Asks the portal about one name: `Ok(None)` when it answered 404.
pub type LookUp<R> =
    for<'a> fn(&'a Session, &'a str) -> BoxFuture<'a, Result<Option<R>, PortalError>>;

impl<K: PortalKind> Reconciled for K {
    type Status = K::Status;

    fn status(&self) -> Option<&K::Status> {
        PortalKind::status(self)
    }

    fn conditions(status: &K::Status) -> &[Condition] {
        &status.managed().conditions
    }

    fn parts(status: &mut K::Status) -> StatusParts<'_> {
        let managed = status.managed_mut();
        StatusParts {
            observed_generation: &mut managed.observed_generation,
            last_sync_time: &mut managed.last_sync_time,
            conditions: &mut managed.conditions,
        }
    }

    fn drive(run: &mut Run<'_, K>) -> impl Future<Output = Result<Action, Error>> + Send {
        super::driver::drive(run)
    }
}

/// `HasManagedStatus` for a status struct whose shared part is its `managed` field.
macro_rules! has_managed_status {
    ($status:ty) => {
        impl $crate::reconcile::kind::HasManagedStatus for $status {
            fn managed(&self) -> &$crate::api::ManagedStatus {
                &self.managed
            }

            fn managed_mut(&mut self) -> &mut $crate::api::ManagedStatus {
                &mut self.managed
            }
        }
    };
}

/// The portal name an object asks for: its `externalName`, else its own name.
pub fn external_or_own_name<K: kube::Resource>(external_name: Option<&str>, object: &K) -> String {
    external_name
        .map(str::to_owned)
        .or_else(|| object.meta().name.clone())
        .unwrap_or_default()
}

/// The `PortalKind` accessors of a kind whose spec embeds `managed` and whose status is
/// `Option<$status>`.
macro_rules! managed_fields {
    ($status:ty) => {
        fn managed_spec(&self) -> &$crate::api::ManagedSpec {
            &self.spec.managed
        }

        fn status(&self) -> Option<&$status> {
            self.status.as_ref()
        }

        fn status_mut(&mut self) -> &mut Option<$status> {
            &mut self.status
        }
    };
}

pub(crate) use {has_managed_status, managed_fields};
