//! The connection Secret (`writeConnectionSecretToRef`): whatever connection details the portal
//! returns, as string keys, in a Secret owned by the object.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::context::Context;
use super::error::Error;
use super::report::MANAGER;

/// The Secret data for a portal's connection details: strings as they are, numbers and booleans
/// as text, nested values as JSON; null values are left out.
pub fn secret_data(details: &Map<String, Value>) -> BTreeMap<String, ByteString> {
    details
        .iter()
        .filter_map(|(key, value)| {
            let text = match value {
                Value::Null => return None,
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            Some((key.clone(), ByteString(text.into_bytes())))
        })
        .collect()
}

/// Writes the Secret (with `annotations`) when its data differs. A Secret of that name that this object does not
/// own is left alone and reported.
pub async fn write<K>(
    ctx: &Context,
    owner: &K,
    secret_name: &str,
    details: &Map<String, Value>,
    annotations: BTreeMap<String, String>,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let namespace = owner.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &namespace);
    let data = secret_data(details);
    let owner_uid = owner.meta().uid.clone();
    if let Some(existing) = secrets.get_opt(secret_name).await? {
        let owned = existing
            .owner_references()
            .iter()
            .any(|reference| Some(&reference.uid) == owner_uid.as_ref());
        if !owned {
            return Err(Error::InvalidSpec {
                reason: "ConnectionSecretConflict",
                message: format!(
                    "the Secret '{secret_name}' exists and is not owned by this object: choose another writeConnectionSecretToRef name or delete that Secret"
                ),
            });
        }
        if existing.data.as_ref() == Some(&data) {
            return Ok(());
        }
    }
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.to_owned()),
            namespace: Some(namespace),
            owner_references: owner.controller_owner_ref(&()).map(|r| vec![r]),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "htx-operator".to_owned(),
            )])),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    };
    let mut patch = serde_json::to_value(&secret).expect("a Secret serializes");
    patch["apiVersion"] = "v1".into();
    patch["kind"] = "Secret".into();
    secrets
        .patch(
            secret_name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_detail_becomes_a_string_key() {
        let details = json!({"host": "db.example", "port": 5432, "ssl": true, "extra": null});
        let data = secret_data(details.as_object().unwrap());
        assert_eq!(data["host"].0, b"db.example");
        assert_eq!(data["port"].0, b"5432");
        assert_eq!(data["ssl"].0, b"true");
        assert!(!data.contains_key("extra"));
    }
}
