//! The control plane the tests run against is a real one: CRDs, the status subresource,
//! server-side apply, finalizers, namespace deletion and garbage collection (the last two
//! need kube-controller-manager), and RBAC.
//!
//! Runs against `HTX_E2E_KUBECONFIG`, or brings up `hack/local-cluster.sh up .e2e/cluster`.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ConfigMap, Event, EventSource, Namespace, ObjectReference, Secret,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{TestNamespace, client, unprivileged_client, wait_for, wait_for_deletion};

const GROUP: &str = "e2e.htx.test";
const FINALIZER: &str = "e2e.htx.test/hold";
const SHORT: Duration = Duration::from_secs(30);
/// kube-controller-manager's garbage collector and namespace controller work from
/// discovery, refreshed every 30s: allow for a refresh after a CRD appears.
const CONTROLLER: Duration = Duration::from_secs(120);

/// A tiny custom resource, only for these tests.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "e2e.htx.test",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
pub struct WidgetSpec {
    pub size: i32,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct WidgetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Applies the Widget CRD (server-side, idempotent, safe from parallel tests) and waits
/// until it is Established. The CRD is left in place: other test processes may use it.
async fn ensure_widget_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        Widget::crd_name(),
        &PatchParams::apply("htx-e2e").force(),
        &Patch::Apply(Widget::crd()),
    )
    .await
    .expect("apply the Widget CRD");
    wait_for(
        &crds,
        Widget::crd_name(),
        "the Widget CRD to be Established",
        SHORT,
        |crd| {
            crd.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                })
        },
    )
    .await;
}

fn widget(name: &str, size: i32) -> Widget {
    Widget::new(name, WidgetSpec { size })
}

#[tokio::test]
async fn crd_status_subresource_takes_server_side_apply() {
    let client = client().await;
    ensure_widget_crd(&client).await;
    let ns = TestNamespace::new(&client).await;
    let widgets: Api<Widget> = ns.api();
    widgets
        .create(&PostParams::default(), &widget("w1", 3))
        .await
        .expect("create widget");

    let apply_status = |status: serde_json::Value| {
        let widgets = widgets.clone();
        async move {
            let patch = json!({
                "apiVersion": format!("{GROUP}/v1"),
                "kind": "Widget",
                "metadata": { "name": "w1" },
                "status": status,
            });
            widgets
                .patch_status(
                    "w1",
                    &PatchParams::apply("htx-e2e-status"),
                    &Patch::Apply(&patch),
                )
                .await
                .expect("server-side apply of the status")
        }
    };

    apply_status(json!({ "phase": "Ready", "message": "hello" })).await;
    let got = widgets.get_status("w1").await.expect("get status");
    let status = got.status.clone().expect("status set");
    assert_eq!(status.phase.as_deref(), Some("Ready"));
    assert_eq!(status.message.as_deref(), Some("hello"));
    assert_eq!(got.spec.size, 3, "spec untouched by a status apply");
    let managers = got.managed_fields();
    assert!(
        managers
            .iter()
            .any(|m| m.manager.as_deref() == Some("htx-e2e-status")
                && m.operation.as_deref() == Some("Apply")),
        "the field manager owns the status fields: {managers:?}"
    );

    // Server-side apply semantics: a field this manager owned and no longer applies goes.
    apply_status(json!({ "phase": "Degraded" })).await;
    let got = widgets.get("w1").await.expect("get widget");
    let status = got.status.expect("status set");
    assert_eq!(status.phase.as_deref(), Some("Degraded"));
    assert_eq!(status.message, None, "unapplied owned field removed");

    // The status subresource: status in a write to the main resource is ignored.
    widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "size": 4 }, "status": { "phase": "Hacked" } })),
        )
        .await
        .expect("merge patch the main resource");
    let got = widgets.get("w1").await.expect("get widget");
    assert_eq!(got.spec.size, 4);
    assert_eq!(
        got.status.and_then(|s| s.phase).as_deref(),
        Some("Degraded")
    );

    ns.cleanup().await;
}

#[tokio::test]
async fn finalizer_holds_deletion_until_removed() {
    let client = client().await;
    ensure_widget_crd(&client).await;
    let ns = TestNamespace::new(&client).await;
    let widgets: Api<Widget> = ns.api();
    widgets
        .create(&PostParams::default(), &widget("w2", 1))
        .await
        .expect("create widget");
    widgets
        .patch(
            "w2",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "finalizers": [FINALIZER] } })),
        )
        .await
        .expect("add finalizer");

    widgets
        .delete("w2", &DeleteParams::default())
        .await
        .expect("delete widget");
    let held = wait_for(
        &widgets,
        "w2",
        "the widget to be marked for deletion",
        SHORT,
        |w| w.metadata.deletion_timestamp.is_some(),
    )
    .await;
    assert_eq!(held.finalizers(), [FINALIZER.to_string()]);
    // Still readable while the finalizer holds it.
    assert!(
        widgets.get_opt("w2").await.expect("get widget").is_some(),
        "a finalizer keeps the object"
    );

    widgets
        .patch(
            "w2",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
        )
        .await
        .expect("remove finalizer");
    wait_for_deletion(&widgets, "w2", "the widget to be gone", SHORT).await;

    ns.cleanup().await;
}

#[tokio::test]
async fn namespace_deletion_completes() {
    let client = client().await;
    ensure_widget_crd(&client).await;
    let ns = TestNamespace::new(&client).await;
    let name = ns.name().to_string();
    let cms: Api<ConfigMap> = ns.api();
    cms.create(&PostParams::default(), &config_map("data", None))
        .await
        .expect("create configmap");
    let widgets: Api<Widget> = ns.api();
    widgets
        .create(&PostParams::default(), &widget("w3", 1))
        .await
        .expect("create widget");

    ns.cleanup().await;
    // Without kube-controller-manager's namespace controller, it stays Terminating.
    wait_for_deletion(
        &Api::<Namespace>::all(client),
        &name,
        "the namespace (with a configmap and a widget) to be deleted",
        CONTROLLER,
    )
    .await;
}

fn config_map(name: &str, owner: Option<OwnerReference>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        data: Some([("k".to_string(), "v".to_string())].into()),
        ..Default::default()
    }
}

fn owner_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    owner
        .controller_owner_ref(&())
        .expect("owner has name and uid")
}

#[tokio::test]
async fn owned_objects_are_garbage_collected() {
    let client = client().await;
    let ns = TestNamespace::new(&client).await;
    let cms: Api<ConfigMap> = ns.api();
    let owner = cms
        .create(&PostParams::default(), &config_map("owner", None))
        .await
        .expect("create owner");
    cms.create(
        &PostParams::default(),
        &config_map("owned", Some(owner_ref(&owner))),
    )
    .await
    .expect("create owned");

    cms.delete("owner", &DeleteParams::background())
        .await
        .expect("delete owner");
    wait_for_deletion(
        &cms,
        "owned",
        "the owned configmap to be garbage-collected",
        CONTROLLER,
    )
    .await;

    ns.cleanup().await;
}

#[tokio::test]
async fn custom_resource_owner_garbage_collects_dependents() {
    let client = client().await;
    ensure_widget_crd(&client).await;
    let ns = TestNamespace::new(&client).await;
    let widgets: Api<Widget> = ns.api();
    let owner = widgets
        .create(&PostParams::default(), &widget("w4", 1))
        .await
        .expect("create widget");
    let cms: Api<ConfigMap> = ns.api();
    cms.create(
        &PostParams::default(),
        &config_map("owned-by-widget", Some(owner_ref(&owner))),
    )
    .await
    .expect("create owned configmap");

    widgets
        .delete("w4", &DeleteParams::background())
        .await
        .expect("delete widget");
    wait_for_deletion(
        &cms,
        "owned-by-widget",
        "the configmap owned by a widget to be garbage-collected",
        CONTROLLER,
    )
    .await;

    ns.cleanup().await;
}

#[tokio::test]
async fn unprivileged_identity_is_refused() {
    let err = Api::<Secret>::all(unprivileged_client().await)
        .list(&ListParams::default())
        .await
        .expect_err("an identity without bindings must not list secrets");
    match err {
        kube::Error::Api(status) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected a 403 from the API server, got {other}"),
    }
    // The admin identity may.
    Api::<Secret>::all(client().await)
        .list(&ListParams::default().limit(1))
        .await
        .expect("admin lists secrets");
}

/// The harness itself: a wait that times out reports the object and its Events.
#[tokio::test]
async fn wait_for_timeout_reports_object_and_events() {
    let client = client().await;
    let ns = TestNamespace::new(&client).await;
    let cms: Api<ConfigMap> = ns.api();
    let cm = cms
        .create(&PostParams::default(), &config_map("watched", None))
        .await
        .expect("create configmap");
    let events: Api<Event> = ns.api();
    events
        .create(
            &PostParams::default(),
            &Event {
                metadata: ObjectMeta {
                    generate_name: Some("watched-".to_string()),
                    ..Default::default()
                },
                involved_object: ObjectReference {
                    api_version: Some("v1".to_string()),
                    kind: Some("ConfigMap".to_string()),
                    name: cm.metadata.name.clone(),
                    namespace: Some(ns.name().to_string()),
                    uid: cm.metadata.uid.clone(),
                    ..Default::default()
                },
                reason: Some("HtxProbe".to_string()),
                message: Some("probe event for the harness".to_string()),
                type_: Some("Normal".to_string()),
                source: Some(EventSource {
                    component: Some("htx-e2e".to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .expect("create event");

    let waiting = tokio::spawn(async move {
        wait_for(
            &cms,
            "watched",
            "a condition that never holds",
            Duration::from_secs(1),
            |_| false,
        )
        .await
    });
    let panic = waiting
        .await
        .expect_err("wait_for must panic on timeout")
        .into_panic();
    let report = panic
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| format!("{panic:?}"));
    for needle in [
        "timed out after 1s waiting for a condition that never holds",
        "\"name\": \"watched\"",
        "HtxProbe",
        "probe event for the harness",
    ] {
        assert!(
            report.contains(needle),
            "{needle:?} not in report:\n{report}"
        );
    }

    ns.cleanup().await;
}
