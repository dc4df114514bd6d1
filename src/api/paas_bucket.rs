//! `PaasBucket`: an object storage bucket at the PaaS and an access key to it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{EXTERNAL_NAME_STAYS_BOUND, ManagedSpec, ManagedStatus};

/// Admission rule: without `spec.externalName`, `metadata.name` is the bucket name and must be a
/// valid one.
pub const NAME_IS_A_BUCKET_NAME: (&str, &str) = (
    "has(self.spec.externalName) || self.metadata.name.matches('^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$')",
    "metadata.name is not a valid bucket name (3 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit): set spec.externalName to one",
);

/// A bucket wanted at the PaaS, and an access key to it written to
/// `writeConnectionSecretToRef` (`bucket`, `endpoint`, `accessKeyId`, `secretAccessKey`): the
/// secret is shown only when the key is made, so it goes to the Secret before status records
/// the key.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "paas.vinacis.com",
    version = "v1alpha1",
    kind = "PaasBucket",
    validation = EXTERNAL_NAME_STAYS_BOUND,
    validation = NAME_IS_A_BUCKET_NAME,
    namespaced,
    status = "PaasBucketStatus",
    shortname = "paasbucket",
    category = "paas",
    doc = "A PaaS object storage bucket and an access key to it, kept in step with the PaaS public API.",
    printcolumn = r#"{"name":"Bucket","type":"string","jsonPath":".status.bucket"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PaasBucketSpec {
    /// The bucket's name at the portal. Defaults to `metadata.name`. Cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
    )]
    pub external_name: Option<String>,

    /// Readable by anyone (`true`) or with a key only. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,

    #[serde(flatten)]
    pub managed: ManagedSpec,
}

/// What the operator last saw at the portal, and the conditions `Ready` and `Synced`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaasBucketStatus {
    #[serde(flatten)]
    pub managed: ManagedStatus,
    /// The bucket's S3 name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// The access key whose secret is in the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The portal's id of that key (revoked when the object is deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// A key asked for whose answer is not known yet: one found under its name is revoked, and
    /// another made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_requested_at: Option<Time>,
}
