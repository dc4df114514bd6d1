//! The writing end of a reconcile: status by server-side apply, the finalizer, Events.

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::api::FINALIZER;

use super::context::Context;

/// The field manager of every write the operator makes.
pub const MANAGER: &str = "htx-operator";

/// Applies `status` as the whole status owned by the operator. With `resource_version`, the API
/// server refuses the write (409) when the object changed since that version was read.
pub async fn write_status<K, S>(
    api: &Api<K>,
    object: &K,
    status: &S,
    resource_version: Option<&str>,
) -> Result<K, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    let mut patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    if let Some(version) = resource_version {
        patch["metadata"] = json!({ "resourceVersion": version });
    }
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await
}

/// Adds the finalizer, guarded by the resourceVersion read, so no concurrent change is lost.
pub async fn add_finalizer<K>(api: &Api<K>, object: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let mut operations = vec![json!({
        "op": "test", "path": "/metadata/resourceVersion", "value": object.resource_version()
    })];
    if object.finalizers().is_empty() {
        operations.push(json!({"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}));
    } else {
        operations.push(json!({"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}));
    }
    json_patch(api, object, operations).await
}

/// Removes the finalizer (and only it), checking it is still where it was read.
pub async fn remove_finalizer<K>(api: &Api<K>, object: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let Some(index) = object.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{index}");
    let operations = vec![
        json!({"op": "test", "path": path, "value": FINALIZER}),
        json!({"op": "remove", "path": path}),
    ];
    match json_patch(api, object, operations).await {
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        other => other,
    }
}

async fn json_patch<K>(
    api: &Api<K>,
    object: &K,
    operations: Vec<serde_json::Value>,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let patch: json_patch::Patch =
        serde_json::from_value(serde_json::Value::Array(operations)).expect("a valid JSON patch");
    api.patch(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::<()>::Json(patch),
    )
    .await?;
    Ok(())
}

/// Publishes an Event on the object; a failure to publish is logged, never fatal.
pub async fn publish<K>(ctx: &Context, object: &K, warning: bool, reason: &str, note: String)
where
    K: Resource<DynamicType = ()>,
{
    if let Err(error) = ctx.recorder.publish(object, warning, reason, note).await {
        tracing::warn!(%error, reason, "could not publish an Event");
    }
}
