//! `PaasProject`: a project of the PaaS public API (`seeds/paas-public-api.txt`) and its project
//! secrets.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{EXTERNAL_NAME_STAYS_BOUND, ManagedSpec, ManagedStatus};
use super::rules::exactly_one_of;

/// The API group of the PaaS kinds.
pub const PAAS_GROUP: &str = "paas.vinacis.com";

/// A project wanted at the PaaS. The operator creates it (once: the portal takes any number of
/// projects under one name), keeps the project secrets the spec lists at their values, and
/// leaves the project in place when this object is deleted: the API has no route to delete a
/// project (an Event says so).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "paas.vinacis.com",
    version = "v1alpha1",
    kind = "PaasProject",
    validation = EXTERNAL_NAME_STAYS_BOUND,
    namespaced,
    status = "PaasProjectStatus",
    shortname = "paasproj",
    category = "paas",
    doc = "A PaaS project and its project secrets, kept in step with the PaaS public API.",
    printcolumn = r#"{"name":"Project","type":"string","jsonPath":".status.externalName"}"#,
    printcolumn = r#"{"name":"Id","type":"string","jsonPath":".status.id"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PaasProjectSpec {
    /// The project's name at the portal. Defaults to `metadata.name`. 1 to 100 characters, not
    /// starting or ending with a space. Cannot change once the project exists (the API has no
    /// route to rename a project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100), regex(pattern = r"^\S(.*\S)?$"))]
    pub external_name: Option<String>,

    /// Set when the project is created. The API cannot change it afterwards: a changed
    /// description is reported (`Synced=False, reason=UpdateNotSupported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub description: Option<String>,

    /// Project secrets this object keeps: each `key` and `scope` holds its value at the portal
    /// (created, or set when it differs). One removed from this list is deleted at the portal;
    /// secrets the list never named are left alone. The values are never read back (the API
    /// masks them): a keyed hash of what was last written is kept in status instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    #[x_kube(validation = (
        "self.all(s, self.exists_one(t, t.key == s.key && t.scope == s.scope))",
        "each key and scope appears once in spec.secrets"
    ))]
    pub secrets: Vec<ProjectSecret>,

    #[serde(flatten)]
    pub managed: ManagedSpec,
}

/// A project secret: a value for one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = exactly_one_of("value", "valueFrom", "set exactly one of value and valueFrom"))]
pub struct ProjectSecret {
    /// The variable name: a letter or `_`, then letters, digits and `_`.
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")
    )]
    pub key: String,
    /// The environment it is used in.
    pub scope: SecretScope,
    /// The value itself (it is stored in this object in clear: prefer `valueFrom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value, from a key of a Secret in this namespace; a change of that Secret reaches the
    /// portal within the operator's Secret poll interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueSource>,
}

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValueSource {
    pub secret_key_ref: SecretKeyRef,
}

/// A key of a Secret in the object's own namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// The environments of a project secret (documented).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SecretScope {
    Production,
    Staging,
    Development,
}

impl SecretScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Staging => "staging",
            Self::Development => "development",
        }
    }
}

/// What the operator last saw at the portal, and the conditions `Ready` and `Synced`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaasProjectStatus {
    #[serde(flatten)]
    pub managed: ManagedStatus,
    /// The description the portal reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The project secrets this object keeps, as last written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ProjectSecretStatus>,
}

/// A project secret as last written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSecretStatus {
    pub key: String,
    pub scope: SecretScope,
    /// The portal's id of the secret.
    pub id: String,
    /// A hash of the value written, keyed with the credential: tells a changed value without
    /// keeping it, and cannot be checked against guesses without the credential.
    pub value_hash: String,
}
