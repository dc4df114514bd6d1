//! Spec and status parts shared by every managed kind (Database, Function, Proxy).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use schemars::JsonSchema;

use super::rules::at_most_one_of;
use serde::{Deserialize, Serialize};

/// The API group of every kind.
pub const GROUP: &str = "htx.vinacis.com";
/// `htx.vinacis.com/paused: "true"` stops all portal calls for the object.
pub const PAUSED_ANNOTATION: &str = "htx.vinacis.com/paused";
/// Any new value of `htx.vinacis.com/reconcile-requested-at` asks for a resync now.
pub const RECONCILE_REQUESTED_ANNOTATION: &str = "htx.vinacis.com/reconcile-requested-at";
/// Guards the portal resource: removed only once it is deleted there (or orphaned).
pub const FINALIZER: &str = "htx.vinacis.com/finalizer";

/// Admission rule of every managed kind (see [`super::rules`]): once the object is bound to a
/// portal resource (`status.externalName`), the name its spec asks for (`spec.externalName`, else
/// `metadata.name`) stays that one. An update that leaves the asked name as it was passes too, so
/// that an object bound before the rule existed can still be edited and its status written.
pub const EXTERNAL_NAME_STAYS_BOUND: (&str, &str) = (
    concat!(
        "!has(oldSelf.status) || !has(oldSelf.status.externalName) || ",
        "(has(self.spec.externalName) ? self.spec.externalName : self.metadata.name) in [",
        "oldSelf.status.externalName, ",
        "has(oldSelf.spec.externalName) ? oldSelf.spec.externalName : oldSelf.metadata.name]"
    ),
    "spec.externalName cannot change once the object is bound to a portal resource (status.externalName): set it back to that name, or create a new object",
);

/// Admission rule of every managed kind: without `spec.externalName`, `metadata.name` is the
/// portal name and must be a valid one (the operator's `InvalidName`).
pub const NAME_IS_A_PORTAL_NAME: (&str, &str) = (
    "has(self.spec.externalName) || self.metadata.name.matches('^[a-z][a-z0-9-]{1,61}[a-z0-9]$')",
    "metadata.name is not a valid portal name (3 to 63 lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen): set spec.externalName to one",
);

/// The name of an HTX portal resource (Database, Function, Proxy).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalName {
    /// The resource's name at the portal. Defaults to `metadata.name`. Portal names are 3 to 63
    /// characters of lowercase letters, digits and hyphens, starting with a letter and not ending
    /// with a hyphen. Cannot change once the portal resource exists (see `status.externalName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
    )]
    pub external_name: Option<String>,
}

/// Admission rule of every kind that names credentials: a token Secret or a ProviderConfig.
pub const ONE_CREDENTIAL_SOURCE: &str = "set at most one of spec.tokenSecretRef and spec.providerConfigRef: the ProviderConfig names its own credentials Secret";

/// The fields every kind that owns a portal resource shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = at_most_one_of("tokenSecretRef", "providerConfigRef", ONE_CREDENTIAL_SOURCE))]
pub struct ManagedSpec {
    /// `Manage` (the default): create, observe and delete the portal resource. `Observe`: never
    /// create or delete; only mirror an existing portal resource of that name into status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ManagementPolicy")]
    pub management_policy: Option<ManagementPolicy>,

    /// `Delete` (the default): deleting this object deletes the portal resource. `Orphan`: the
    /// portal resource is left in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "DeletionPolicy")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// When a portal resource with this name exists and was not created by this object: `false`
    /// (the default) stops with `Ready=False, reason=AlreadyExists`; `true` takes it over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt_existing: Option<bool>,

    /// The Secret, in this object's namespace, holding the portal API token. Absent (and no
    /// `providerConfigRef`): the operator's default token Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<TokenSecretRef>,

    /// A ProviderConfig of this namespace: its portal and credentials (instead of
    /// `tokenSecretRef`; not both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_config_ref: Option<ProviderConfigRef>,

    /// A Secret in this namespace to receive the connection details the portal returns (host,
    /// port, username, password, uri …). It is created and owned by this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_connection_secret_to_ref: Option<LocalSecretRef>,
}

impl ManagedSpec {
    /// How the object names its credentials.
    pub fn credential_refs(&self) -> crate::reconcile::credentials::CredentialRefs<'_> {
        crate::reconcile::credentials::CredentialRefs {
            provider_config: self.provider_config_ref.as_ref().map(|r| r.name.as_str()),
            token_secret: self.token_secret_ref.as_ref(),
        }
    }

    pub fn management_policy(&self) -> ManagementPolicy {
        self.management_policy.unwrap_or_default()
    }

    pub fn deletion_policy(&self) -> DeletionPolicy {
        self.deletion_policy.unwrap_or_default()
    }

    pub fn adopt_existing(&self) -> bool {
        self.adopt_existing.unwrap_or(false)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ManagementPolicy {
    #[default]
    Manage,
    Observe,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    #[default]
    Delete,
    Orphan,
}

/// How an object came to hold its portal resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Ownership {
    /// The portal answered this object's create with it.
    Created,
    /// Taken over with `adoptExisting: true`.
    Adopted,
    /// Mirrored only (`managementPolicy: Observe`): never this object's to change or delete.
    Observed,
}

/// A key of a Secret in the object's own namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenSecretRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key holding the token. Defaults to `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A ProviderConfig in the object's own namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderConfigRef {
    /// The ProviderConfig's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A Secret in the object's own namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalSecretRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Status every managed kind shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the portal resource is usable. `Synced`: the last reconcile reached the portal
    /// and found nothing it could not fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The portal name this object is bound to; it cannot change afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// The portal's id of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The portal's raw status string (e.g. `creating`, `online`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// How this object came to hold the portal resource: `Created` (the portal answered this
    /// object's create), `Adopted` (`adoptExisting`) or `Observed` (`managementPolicy: Observe`).
    /// Only a `Created` or `Adopted` resource is ever deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Ownership>,
    /// Set just before the operator asks the portal to create the resource. Until the answer is
    /// known (`ownership`), a resource of that name found soon after is this object's: after a
    /// crash the operator recognises it and never creates twice. A refused create clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_requested_at: Option<Time>,
    /// Set when the portal accepted the deletion; the finalizer stays until the portal says the
    /// resource is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_requested_at: Option<Time>,
    /// When a reconcile that reached the portal last changed this status. A reconcile that finds
    /// nothing new writes nothing, so this does not move while the object is settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
}

/// A free-form object kept as written (`x-kubernetes-preserve-unknown-fields`).
pub fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}
