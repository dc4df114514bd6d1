//! `Proxy`: an HTX SOCKS5 proxy.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{
    EXTERNAL_NAME_STAYS_BOUND, ManagedSpec, ManagedStatus, NAME_IS_A_PORTAL_NAME, PortalName,
    free_form_object,
};

/// The proxy wanted at the portal. Its credentials go to `writeConnectionSecretToRef` (keys
/// `host`, `port`, `username`, `password` and `url`, `socks5://user:pass@host:port`).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "htx.vinacis.com",
    version = "v1alpha1",
    kind = "Proxy",
    plural = "proxies",
    validation = EXTERNAL_NAME_STAYS_BOUND,
    validation = NAME_IS_A_PORTAL_NAME,
    namespaced,
    status = "ProxyStatus",
    shortname = "htxproxy",
    category = "htx",
    doc = "An HTX Cloud SOCKS5 proxy, kept in step with the HTX portal.",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".status.type"}"#,
    printcolumn = r#"{"name":"Host","type":"string","jsonPath":".status.host"}"#,
    printcolumn = r#"{"name":"Port","type":"integer","jsonPath":".status.port"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ProxySpec {
    /// The proxy protocol. `socks5` (the default) is the only one the portal offers.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ProxyType")]
    pub proxy_type: Option<ProxyType>,
    /// Further fields of the portal's create call, passed through verbatim (e.g. `region`).
    /// A later change is reported, not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub parameters: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub portal_name: PortalName,
    #[serde(flatten)]
    pub managed: ManagedSpec,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProxyType {
    #[default]
    Socks5,
}

impl ProxyType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Socks5 => "socks5",
        }
    }
}

/// What the operator last saw at the portal, and the conditions `Ready` and `Synced`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyStatus {
    #[serde(flatten)]
    pub managed: ManagedStatus,
    /// The protocol the portal reports.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub proxy_type: Option<String>,
    /// Where clients connect, once the portal reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}
