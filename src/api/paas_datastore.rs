//! `PaasDatabase` and `PaasRedis`: managed data stores of a PaaS project. The document gives
//! their routes but no bodies: what `parameters` may hold is assumed in one module
//! (`providers::paas::client::assumed`).

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{EXTERNAL_NAME_STAYS_BOUND, ManagedSpec, ManagedStatus, free_form_object};
use super::rules::immutable;

/// Admission rule of the PaaS kinds inside a project: without `spec.externalName`,
/// `metadata.name` is the portal name and must be a valid one (a DNS label).
pub const NAME_IS_A_PAAS_LABEL: (&str, &str) = (
    "has(self.spec.externalName) || self.metadata.name.matches('^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$')",
    "metadata.name is not a valid PaaS name (1 to 63 lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen): set spec.externalName to one",
);

/// A PaasProject of this namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// What a PaasDatabase and a PaasRedis share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatastoreSpec {
    /// The PaasProject (in this namespace) it belongs to, once it is Ready. Cannot change.
    #[x_kube(validation = immutable(
        "projectRef cannot change: a data store does not move to another project; create a new object instead"
    ))]
    pub project_ref: ProjectRef,

    /// Its name at the portal (it becomes a host name). Defaults to `metadata.name`: 1 to 63
    /// lowercase letters, digits and hyphens, starting with a letter. Cannot change once it
    /// exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
    )]
    pub external_name: Option<String>,

    /// Fields of the portal's create call, passed through: for a database `engine`
    /// (`postgresql`, `mysql`), `version`, `plan` (`starter`, `standard`, `pro`) and
    /// `storage_gb`; for a redis `version`, `plan` and `maxmemory_policy`. A later change of
    /// `plan`, `storage_gb` or `maxmemory_policy` is applied in place (PATCH); of another field,
    /// reported (`Synced=False, reason=UpdateNotSupported`). `name` and `project_id` are the
    /// operator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub parameters: Option<Map<String, Value>>,

    /// `true` stops it (the portal keeps its data); `false` starts it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    #[serde(flatten)]
    pub managed: ManagedSpec,
}

/// A managed database (PostgreSQL or MySQL) of a PaaS project; its connection details go to
/// `writeConnectionSecretToRef`.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "paas.vinacis.com",
    version = "v1alpha1",
    kind = "PaasDatabase",
    validation = EXTERNAL_NAME_STAYS_BOUND,
    validation = NAME_IS_A_PAAS_LABEL,
    namespaced,
    status = "PaasDatastoreStatus",
    shortname = "paasdb",
    category = "paas",
    doc = "A PaaS managed database, kept in step with the PaaS public API.",
    printcolumn = r#"{"name":"Project","type":"string","jsonPath":".spec.projectRef.name"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PaasDatabaseSpec {
    #[serde(flatten)]
    pub datastore: DatastoreSpec,
}

/// A managed redis of a PaaS project; its connection details go to
/// `writeConnectionSecretToRef`.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "paas.vinacis.com",
    version = "v1alpha1",
    kind = "PaasRedis",
    plural = "paasredises",
    validation = EXTERNAL_NAME_STAYS_BOUND,
    validation = NAME_IS_A_PAAS_LABEL,
    namespaced,
    status = "PaasDatastoreStatus",
    shortname = "paasredis",
    category = "paas",
    doc = "A PaaS managed redis, kept in step with the PaaS public API.",
    printcolumn = r#"{"name":"Project","type":"string","jsonPath":".spec.projectRef.name"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PaasRedisSpec {
    #[serde(flatten)]
    pub datastore: DatastoreSpec,
}

/// What the operator last saw at the portal, and the conditions `Ready` and `Synced`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaasDatastoreStatus {
    #[serde(flatten)]
    pub managed: ManagedStatus,
    /// The portal id of its project (recorded before the create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The settings the portal reports (`engine`, `version`, `plan`, `storage_gb`,
    /// `maxmemory_policy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Map<String, Value>>,
    /// The connection Secret, once written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<String>,
}
