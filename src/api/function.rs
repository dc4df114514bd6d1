//! `Function`: an HTX serverless function.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{
    EXTERNAL_NAME_STAYS_BOUND, ManagedSpec, ManagedStatus, NAME_IS_A_PORTAL_NAME, PortalName,
    free_form_object,
};
use super::rules::immutable;

/// The function wanted at the portal. The operator creates it, mirrors its state and URL into
/// status and deletes it when this object is deleted (unless `deletionPolicy: Orphan`).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "htx.vinacis.com",
    version = "v1alpha1",
    kind = "Function",
    validation = EXTERNAL_NAME_STAYS_BOUND,
    validation = NAME_IS_A_PORTAL_NAME,
    namespaced,
    status = "FunctionStatus",
    shortname = "htxfn",
    category = "htx",
    doc = "An HTX Cloud serverless function, kept in step with the HTX portal.",
    printcolumn = r#"{"name":"Runtime","type":"string","jsonPath":".spec.runtime"}"#,
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".status.url"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct FunctionSpec {
    /// The runtime, e.g. `nodejs20`, `python3.12`, `go1.22`. The portal cannot change it in
    /// place: a changed runtime is reported as `Synced=False, reason=UpdateNotSupported`.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z][a-z0-9._-]*$"))]
    #[x_kube(validation = immutable(
        "runtime cannot change: the portal cannot change a function's runtime in place; create a new Function instead"
    ))]
    pub runtime: String,
    /// Further fields of the portal's create call, passed through verbatim (e.g. `handler`,
    /// `memory_mb`, `source_url`). A later change is reported, not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub parameters: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub portal_name: PortalName,
    #[serde(flatten)]
    pub managed: ManagedSpec,
}

/// What the operator last saw at the portal, and the conditions `Ready` and `Synced`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStatus {
    #[serde(flatten)]
    pub managed: ManagedStatus,
    /// The runtime the portal reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Where the function is invoked, once the portal reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
