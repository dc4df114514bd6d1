//! Building objects of any kind from JSON, and reading their Ready condition.

use htx_operator::api::{Database, DatabaseSpec};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;

pub fn object<K: DeserializeOwned>(kind: &str, name: &str, spec: serde_json::Value) -> K {
    serde_json::from_value(json!({
        "apiVersion": "htx.vinacis.com/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("a valid object")
}

pub async fn create<K>(api: &Api<K>, object: &K)
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), object)
        .await
        .expect("the object is accepted");
}

/// Merges `spec` into the object's spec, as `kubectl patch --type merge` does.
pub async fn patch_spec<K>(api: &Api<K>, name: &str, spec: serde_json::Value)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": spec })),
    )
    .await
    .expect("the spec is patched");
}

/// The Ready condition's status, reason and message, from any kind's JSON.
pub fn ready<K: serde::Serialize>(object: &K) -> Option<(String, String, String)> {
    let value = serde_json::to_value(object).ok()?;
    let ready = value["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some((
        ready["status"].as_str()?.to_owned(),
        ready["reason"].as_str()?.to_owned(),
        ready["message"].as_str()?.to_owned(),
    ))
}

pub fn is_ready<K: serde::Serialize>(object: &K) -> bool {
    ready(object).is_some_and(|(status, _, _)| status == "True")
}

pub fn not_ready_because<K: serde::Serialize>(reason: &'static str) -> impl Fn(&K) -> bool {
    move |object| ready(object).is_some_and(|(status, r, _)| status == "False" && r == reason)
}

/// Creates `count` Databases named `{prefix}-000`… with `spec`, all at once.
pub async fn create_databases(
    api: &Api<Database>,
    spec: &DatabaseSpec,
    prefix: &str,
    count: usize,
) {
    let creates: Vec<_> = (0..count)
        .map(|i| {
            let api = api.clone();
            let db = Database::new(&format!("{prefix}-{i:03}"), spec.clone());
            tokio::spawn(async move { api.create(&PostParams::default(), &db).await })
        })
        .collect();
    for create in creates {
        create.await.unwrap().expect("the Database is accepted");
    }
}
