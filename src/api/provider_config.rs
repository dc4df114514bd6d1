//! `ProviderConfig`: which portal and which credentials the objects that name it use.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rules::immutable;

/// A portal and the credentials to use there: objects of this namespace name it in
/// `spec.providerConfigRef`. Ready once the credentials authenticated with one cheap read. It
/// stays while an object still needs it to delete its portal resource.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "htx.vinacis.com",
    version = "v1alpha1",
    kind = "ProviderConfig",
    namespaced,
    status = "ProviderConfigStatus",
    shortname = "htxpc",
    category = "htx",
    doc = "A portal (HTX, WaysCloud …) and the credentials its objects use there.",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.provider"}"#,
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".status.url"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfigSpec {
    /// Which portal API: `HTX`, `WaysCloud` or `Paas`. Cannot change: the objects naming this
    /// ProviderConfig belong to that portal.
    #[x_kube(validation = immutable(
        "provider cannot change: the objects naming this ProviderConfig belong to that portal; create a new ProviderConfig instead"
    ))]
    pub provider: Provider,
    /// The portal's base URL. Defaults to the operator's portal for the provider (its command
    /// line: `--portal-url`, `--provider-default`), else the provider's own
    /// (`https://portal.vinacis.com`, `https://api.wayscloud.services`,
    /// `https://paas.vinacis.com`). Must be https (plain
    /// http only where the operator allows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 8, max = 2048), regex(pattern = r"^https?://\S+$"))]
    pub url: Option<String>,
    /// The Secret of this namespace holding the credential (an API token or key).
    pub credentials_secret_ref: CredentialsSecretRef,
    /// Requests per minute this credential may make at the portal. Defaults to the operator's
    /// budget for the provider (below the portal's limit, leaving room for other clients of the
    /// credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub requests_per_minute: Option<u32>,
}

/// Which portal API a ProviderConfig (and the objects naming it) speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Provider {
    /// HTX Cloud: Database, Function, Proxy, Backup, BackupSchedule.
    #[serde(rename = "HTX")]
    Htx,
    /// WaysCloud Databases: WaysDatabase.
    #[serde(rename = "WaysCloud")]
    WaysCloud,
    /// The PaaS public API: PaasProject.
    #[serde(rename = "Paas")]
    Paas,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Htx => "HTX",
            Self::WaysCloud => "WaysCloud",
            Self::Paas => "Paas",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key of a Secret in the ProviderConfig's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CredentialsSecretRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key holding the credential. Defaults to `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Whether the credentials work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfigStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the credentials authenticated at the portal (otherwise why not: `Unauthorized`,
    /// `TokenMissing`, `InvalidSpec`, `PortalUnreachable` …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The portal's base URL in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the operator last changed this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
}
