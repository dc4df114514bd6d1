//! `Database`: an HTX managed database.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    EXTERNAL_NAME_STAYS_BOUND, ManagedSpec, ManagedStatus, NAME_IS_A_PORTAL_NAME, PortalName,
};
use super::rules::immutable;

/// The database wanted at the portal. The operator creates it, mirrors its state into status and
/// deletes it when this object is deleted (unless `deletionPolicy: Orphan`).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "htx.vinacis.com",
    version = "v1alpha1",
    kind = "Database",
    validation = EXTERNAL_NAME_STAYS_BOUND,
    validation = NAME_IS_A_PORTAL_NAME,
    namespaced,
    status = "DatabaseStatus",
    shortname = "htxdb",
    category = "htx",
    doc = "An HTX Cloud managed database (PostgreSQL, MySQL, MongoDB or ClickHouse), kept in step with the HTX portal.",
    printcolumn = r#"{"name":"Engine","type":"string","jsonPath":".spec.engine"}"#,
    printcolumn = r#"{"name":"SKU","type":"string","jsonPath":".spec.sku"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    /// The database engine. Cannot change after creation: the portal has no update route.
    #[x_kube(validation = immutable(
        "engine cannot change: the portal cannot move a database to another engine; create a new Database instead"
    ))]
    pub engine: Engine,
    /// The size, e.g. `db-s-1vcpu-2gb` (or `ch-s-1vcpu-2gb` for ClickHouse). The portal cannot
    /// resize in place: a changed sku is reported as `Synced=False, reason=UpdateNotSupported`.
    #[schemars(
        length(min = 4, max = 63),
        regex(pattern = r"^[a-z]{2}-[a-z0-9]+(-[a-z0-9]+)+$")
    )]
    pub sku: String,
    #[serde(flatten)]
    pub portal_name: PortalName,
    #[serde(flatten)]
    pub managed: ManagedSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgresql,
    Mysql,
    Mongodb,
    Clickhouse,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Mysql => "mysql",
            Self::Mongodb => "mongodb",
            Self::Clickhouse => "clickhouse",
        }
    }
}

/// What the operator last saw at the portal, and the conditions `Ready` and `Synced`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseStatus {
    #[serde(flatten)]
    pub managed: ManagedStatus,
    /// The engine the portal reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The sku the portal reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// Where the portal placed the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_target: Option<String>,
}
