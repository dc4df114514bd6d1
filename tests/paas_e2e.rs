//! The PaaS kinds end to end: the operator against the PaaS simulator and a real API server.
//! Names repeat freely at this portal, so each test counts create attempts, not successes.

mod support;

use std::time::Duration;

use htx_operator::api::{PaasBucket, PaasDatabase, PaasProject, PaasRedis, PaasWebService};
use htx_operator::providers::paas::sim::{AfterEffect, Armed, Call, Kind, SimConfig, SimHandle};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use support::{
    Stack, StackOptions, create, events_report, is_ready, not_ready_because, object, patch_spec,
    wait_for, wait_for_deletion,
};

const SHORT: Duration = Duration::from_secs(60);
const SECRETS_ROUTE: &str = "/api/projects/{project_id}/secrets";

/// Asks for a resync now (any new value of the annotation).
async fn request_resync<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let at = format!("{:?}", std::time::SystemTime::now());
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations":
            {"htx.vinacis.com/reconcile-requested-at": at}}})),
    )
    .await
    .unwrap();
}

/// Asks `name` for resyncs until the simulator counted two more `GET`s of `route`: two more
/// looks of a converged object, after which its writes can be compared with those before.
async fn two_more_looks<K>(api: &Api<K>, name: &str, hooks: &SimHandle, route: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let looks = || hooks.stats().route_total("GET", route);
    let looked = looks();
    let deadline = tokio::time::Instant::now() + SHORT;
    while looks() < looked + 2 {
        assert!(tokio::time::Instant::now() < deadline, "no more looks");
        request_resync(api, name).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The answer of the next `call` is lost after the portal acted on it.
fn lose_next_answer(hooks: &SimHandle, call: Call) {
    hooks.arm(Armed {
        on: call,
        fault: AfterEffect::LoseAnswer,
        count: 1,
    });
}

async fn paas_stack(extra_args: &[&str]) -> Stack {
    let mut options = StackOptions {
        paas: Some(SimConfig {
            provision_delay: Duration::from_millis(500),
            deploy_stage_delay: Duration::from_millis(300),
            ..SimConfig::default()
        }),
        ..StackOptions::default()
    };
    options
        .operator_args
        .extend(extra_args.iter().map(|arg| (*arg).to_owned()));
    Stack::start(options).await
}

fn project(name: &str, spec: Value) -> PaasProject {
    object("PaasProject", name, spec)
}

/// The portal's projects named `name`.
fn projects_named(stack: &Stack, name: &str) -> Vec<Value> {
    stack
        .paas()
        .sim
        .hooks()
        .resources(Kind::Projects)
        .into_iter()
        .filter(|p| p["name"] == name)
        .collect()
}

/// The project secrets of `project_id` at the portal, values in clear, by key and scope.
fn secrets_of(stack: &Stack, project_id: &str) -> Vec<(String, String, String)> {
    let mut secrets: Vec<_> = stack
        .paas()
        .sim
        .hooks()
        .resources(Kind::ProjectSecrets)
        .into_iter()
        .filter(|s| s["project_id"] == project_id)
        .map(|s| {
            let text = |field: &str| s[field].as_str().unwrap_or_default().to_owned();
            (text("key"), text("scope"), text("value"))
        })
        .collect();
    secrets.sort();
    secrets
}

async fn put_secret(stack: &Stack, name: &str, key: &str, value: &str) {
    let patch = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                       "stringData": {key: value}});
    stack
        .api::<Secret>()
        .patch(
            name,
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(patch),
        )
        .await
        .unwrap();
}

fn project_id(object: &PaasProject) -> String {
    object
        .status
        .as_ref()
        .and_then(|s| s.managed.id.clone())
        .expect("a Ready project has its id")
}

/// One create; its secrets at their values, a Secret's change following with nobody touching
/// the object (one update), a secret dropped from the spec deleted; status keeps hashes, never
/// values; deleting the object leaves the project (the API cannot delete one) and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_is_made_once_keeps_its_secrets_and_is_orphaned_on_deletion() {
    let stack = paas_stack(&[]).await;
    put_secret(&stack, "stripe", "key", "sk_test_one").await;
    let api = stack.api::<PaasProject>();
    let spec = json!({
        "description": "the shop",
        "secrets": [
            {"key": "STRIPE_KEY", "scope": "production",
             "valueFrom": {"secretKeyRef": {"name": "stripe", "key": "key"}}},
            {"key": "LOG_LEVEL", "scope": "development", "value": "debug"},
        ],
    });
    create(&api, &project("shop", spec)).await;
    let ready = wait_for(&api, "shop", "Ready", SHORT, is_ready).await;
    let id = project_id(&ready);
    let hooks = stack.paas().sim.hooks();
    assert_eq!(hooks.stats().attempts(Kind::Projects, "shop"), 1);
    assert_eq!(projects_named(&stack, "shop")[0]["description"], "the shop");
    let expected = |stripe: &str| {
        vec![
            ("LOG_LEVEL".into(), "development".into(), "debug".into()),
            ("STRIPE_KEY".into(), "production".into(), stripe.to_owned()),
        ]
    };
    let written = wait_for(&api, "shop", "both secrets recorded", SHORT, |p| {
        p.status.as_ref().is_some_and(|s| s.secrets.len() == 2)
    })
    .await;
    assert_eq!(secrets_of(&stack, &id), expected("sk_test_one"));
    let status = serde_json::to_string(&written.status).unwrap();
    assert!(
        !status.contains("sk_test_one") && !status.contains("debug"),
        "status holds no value: {status}"
    );

    let updates_before = hooks.stats().updated(Kind::ProjectSecrets);
    put_secret(&stack, "stripe", "key", "sk_test_two").await;
    let deadline = tokio::time::Instant::now() + SHORT;
    while secrets_of(&stack, &id) != expected("sk_test_two") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the changed Secret never reached the portal: {:?}",
            secrets_of(&stack, &id)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hash = |p: &PaasProject| {
        let status = p.status.as_ref()?;
        let secret = status.secrets.iter().find(|s| s.key == "STRIPE_KEY")?;
        Some(secret.value_hash.clone())
    };
    let before = hash(&written);
    wait_for(&api, "shop", "the new value recorded", SHORT, |p| {
        hash(p).is_some() && hash(p) != before
    })
    .await;
    // Two more looks at the project's secrets (each resync and poll makes one) write nothing.
    two_more_looks(&api, "shop", hooks, SECRETS_ROUTE).await;
    assert_eq!(
        hooks.stats().updated(Kind::ProjectSecrets) - updates_before,
        1,
        "one update for one changed value"
    );

    patch_spec(
        &api,
        "shop",
        json!({"secrets": [
            {"key": "STRIPE_KEY", "scope": "production",
             "valueFrom": {"secretKeyRef": {"name": "stripe", "key": "key"}}},
        ]}),
    )
    .await;
    wait_for(&api, "shop", "the dropped secret forgotten", SHORT, |p| {
        p.status.as_ref().is_some_and(|s| s.secrets.len() == 1)
    })
    .await;
    assert_eq!(
        secrets_of(&stack, &id),
        vec![(
            "STRIPE_KEY".into(),
            "production".into(),
            "sk_test_two".into()
        )]
    );

    api.delete("shop", &DeleteParams::default()).await.unwrap();
    wait_for_deletion(&api, "shop", "released", SHORT).await;
    assert_eq!(projects_named(&stack, "shop").len(), 1, "the project stays");
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "shop").await;
    assert!(
        events.contains("Orphaned") && events.contains("no way to delete a project"),
        "{events}"
    );
    assert_eq!(hooks.stats().attempts(Kind::Projects, "shop"), 1);
    stack.finish().await;
}

/// A project of the same name made by someone else is never taken: AlreadyExists, no create.
/// With adoptExisting and exactly one of that name, it is taken over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_someone_else_holds_is_taken_only_when_asked_and_only_if_it_is_one() {
    let stack = paas_stack(&[]).await;
    let hooks = stack.paas().sim.hooks();
    let account = stack.paas().account.clone();
    hooks
        .create_out_of_band(
            Kind::Projects,
            json!({"name": "legacy", "account": account}),
        )
        .unwrap();
    let api = stack.api::<PaasProject>();
    create(&api, &project("legacy", json!({}))).await;
    wait_for(
        &api,
        "legacy",
        "AlreadyExists",
        SHORT,
        not_ready_because("AlreadyExists"),
    )
    .await;
    patch_spec(&api, "legacy", json!({"adoptExisting": true})).await;
    wait_for(&api, "legacy", "Ready", SHORT, is_ready).await;

    hooks
        .create_out_of_band(Kind::Projects, json!({"name": "twice", "account": account}))
        .unwrap();
    hooks
        .create_out_of_band(Kind::Projects, json!({"name": "twice", "account": account}))
        .unwrap();
    create(&api, &project("twice", json!({"adoptExisting": true}))).await;
    let refused = wait_for(
        &api,
        "twice",
        "AlreadyExists",
        SHORT,
        not_ready_because("AlreadyExists"),
    )
    .await;
    let message = support::ready(&refused).unwrap().2;
    assert!(message.contains("several"), "{message}");
    let stats = hooks.stats();
    assert_eq!(stats.attempts(Kind::Projects, "legacy"), 0);
    assert_eq!(stats.attempts(Kind::Projects, "twice"), 0);
    stack.finish().await;
}

/// A create whose answer never comes, and a second project of that name appearing meanwhile:
/// the operator cannot tell which is its own, so it stops at OutcomeUnknown with exactly one
/// create sent, also after the list lag and across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_create_beside_a_duplicate_name_stops_at_outcome_unknown() {
    let mut stack = paas_stack(&["--portal-timeout", "3s", "--list-lag", "2s"]).await;
    let hooks = stack.paas().sim.hooks().clone();
    hooks.arm(Armed {
        on: Call::CreateProject,
        fault: AfterEffect::Stall,
        count: 1,
    });
    let api = stack.api::<PaasProject>();
    create(&api, &project("dup", json!({}))).await;
    let deadline = tokio::time::Instant::now() + SHORT;
    while projects_named(&stack, "dup").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no create arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // While the answer is held: someone else makes one of the same name.
    let account = stack.paas().account.clone();
    hooks
        .create_out_of_band(Kind::Projects, json!({"name": "dup", "account": account}))
        .unwrap();
    let unknown = wait_for(
        &api,
        "dup",
        "OutcomeUnknown",
        SHORT,
        not_ready_because("OutcomeUnknown"),
    )
    .await;
    assert_eq!(hooks.stats().fired("create_project", "stall"), 1);
    let message = support::ready(&unknown).unwrap().2;
    assert!(message.contains("several of that name"), "{message}");

    let said = "may or may not have made the project 'dup'";
    let before = stack.operator_log().matches(said).count();
    stack.kill_operator().await;
    stack.start_operator();
    let deadline = tokio::time::Instant::now() + SHORT;
    while stack.operator_log().matches(said).count() <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted operator never looked at dup"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let still = api.get("dup").await.unwrap();
    assert!(not_ready_because("OutcomeUnknown")(&still));
    assert_eq!(
        hooks.stats().attempts(Kind::Projects, "dup"),
        1,
        "never a second create"
    );
    assert_eq!(projects_named(&stack, "dup").len(), 2);
    stack.finish().await;
}

/// A create whose answer is lost, the only project of that name: found again by name, bound,
/// Ready, one create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_with_one_candidate_is_found_again() {
    let stack = paas_stack(&[]).await;
    let hooks = stack.paas().sim.hooks();
    lose_next_answer(hooks, Call::CreateProject);
    let api = stack.api::<PaasProject>();
    create(&api, &project("found", json!({}))).await;
    let ready = wait_for(&api, "found", "Ready", SHORT, is_ready).await;
    assert_eq!(hooks.stats().fired("create_project", "lose_answer"), 1);
    assert_eq!(hooks.stats().attempts(Kind::Projects, "found"), 1);
    let at_portal = projects_named(&stack, "found");
    assert_eq!(at_portal.len(), 1);
    assert_eq!(at_portal[0]["id"], project_id(&ready).as_str());
    assert_eq!(ready.name_any(), "found");
    stack.finish().await;
}

/// A ProviderConfig of provider Paas is Ready once its key authenticated, and its objects use it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paas_provider_config_is_ready_and_serves_its_objects() {
    let stack = paas_stack(&[]).await;
    let key = stack.paas().key.clone();
    put_secret(&stack, "team-paas", "apiKey", &key).await;
    let configs = stack.api::<htx_operator::api::ProviderConfig>();
    let config = object(
        "ProviderConfig",
        "team-paas",
        json!({"provider": "Paas", "url": stack.paas().sim.url(),
               "credentialsSecretRef": {"name": "team-paas", "key": "apiKey"}}),
    );
    create(&configs, &config).await;
    wait_for(&configs, "team-paas", "Ready", SHORT, is_ready).await;
    let api = stack.api::<PaasProject>();
    create(
        &api,
        &project(
            "via-config",
            json!({"providerConfigRef": {"name": "team-paas"}}),
        ),
    )
    .await;
    wait_for(&api, "via-config", "Ready", SHORT, is_ready).await;
    let secret: Api<Secret> = stack.api();
    assert!(secret.get_opt("team-paas").await.unwrap().is_some());
    stack.finish().await;
}

/// The portal's one resource of `kind` named `name`.
fn only(stack: &Stack, kind: Kind, name: &str) -> Value {
    let mut found: Vec<Value> = stack
        .paas()
        .sim
        .hooks()
        .resources(kind)
        .into_iter()
        .filter(|r| r["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{kind:?} {name}: {found:?}");
    found.remove(0)
}

/// The status and reason of the object's condition `type_`.
fn condition<K: serde::Serialize>(object: &K, type_: &str) -> Option<(String, String)> {
    let value = serde_json::to_value(object).ok()?;
    let found = value["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?
        .clone();
    Some((
        found["status"].as_str()?.to_owned(),
        found["reason"].as_str()?.to_owned(),
    ))
}

async fn secret_map(stack: &Stack, name: &str) -> std::collections::BTreeMap<String, String> {
    let secret = stack.api::<Secret>().get(name).await.unwrap();
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect()
}

async fn wait_portal(stack: &Stack, what: &str, cond: impl Fn(&Stack) -> bool) {
    let deadline = tokio::time::Instant::now() + SHORT;
    while !cond(stack) {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A database and a redis wait for their project, are made once each inside it, write their
/// connection Secrets from the detail, change a setting in place (one PATCH) and report one that
/// cannot change, stop and start with `suspend`, and are deleted at the portal with their objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_and_a_redis_live_in_their_project_and_follow_their_spec() {
    let stack = paas_stack(&[]).await;
    let hooks = stack.paas().sim.hooks().clone();
    let databases = stack.api::<PaasDatabase>();
    let redis = stack.api::<PaasRedis>();
    let database: PaasDatabase = object(
        "PaasDatabase",
        "orders",
        json!({"projectRef": {"name": "shop"},
               "parameters": {"engine": "postgresql", "version": "16", "plan": "starter"},
               "writeConnectionSecretToRef": {"name": "orders-db"}}),
    );
    create(&databases, &database).await;
    wait_for(
        &databases,
        "orders",
        "ProjectNotReady",
        SHORT,
        not_ready_because("ProjectNotReady"),
    )
    .await;
    let projects = stack.api::<PaasProject>();
    create(&projects, &project("shop", json!({}))).await;
    let cache: PaasRedis = object(
        "PaasRedis",
        "cache",
        json!({"projectRef": {"name": "shop"},
               "parameters": {"maxmemory_policy": "noeviction"},
               "writeConnectionSecretToRef": {"name": "cache-conn"}}),
    );
    create(&redis, &cache).await;
    let written = |p: &PaasDatabase| {
        is_ready(p)
            && p.status
                .as_ref()
                .is_some_and(|s| s.connection_secret.is_some())
    };
    wait_for(
        &databases,
        "orders",
        "Ready with its Secret",
        SHORT,
        written,
    )
    .await;
    let written = |p: &PaasRedis| {
        is_ready(p)
            && p.status
                .as_ref()
                .is_some_and(|s| s.connection_secret.is_some())
    };
    wait_for(&redis, "cache", "Ready with its Secret", SHORT, written).await;
    let shop = projects.get("shop").await.unwrap();
    let at_portal = only(&stack, Kind::Databases, "orders");
    assert_eq!(at_portal["project_id"], project_id(&shop).as_str());
    assert_eq!(at_portal["engine"], "postgresql");
    assert_eq!(hooks.stats().attempts(Kind::Databases, "orders"), 1);
    assert_eq!(hooks.stats().attempts(Kind::Redis, "cache"), 1);
    let connection = secret_map(&stack, "orders-db").await;
    for key in ["host", "port", "username", "password", "database", "uri"] {
        let expected = match &at_portal["connection"][key] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        assert_eq!(connection.get(key), Some(&expected), "{key}");
    }
    let cache_connection = secret_map(&stack, "cache-conn").await;
    assert_eq!(
        cache_connection.get("uri").map(String::as_str),
        only(&stack, Kind::Redis, "cache")["connection"]["uri"].as_str()
    );

    // A plan is changed in place, once.
    patch_spec(&databases, "orders", json!({"parameters": {"plan": "pro"}})).await;
    wait_portal(&stack, "the plan changed", |stack| {
        only(stack, Kind::Databases, "orders")["plan"] == "pro"
    })
    .await;
    wait_for(&databases, "orders", "settled again", SHORT, |p| {
        is_ready(p) && condition(p, "Synced") == Some(("True".into(), "Synced".into()))
    })
    .await;
    assert_eq!(hooks.stats().updated(Kind::Databases), 1);
    // A version cannot change: reported, not applied.
    patch_spec(
        &databases,
        "orders",
        json!({"parameters": {"version": "15"}}),
    )
    .await;
    wait_for(&databases, "orders", "UpdateNotSupported", SHORT, |p| {
        condition(p, "Synced") == Some(("False".into(), "UpdateNotSupported".into()))
    })
    .await;
    assert_eq!(only(&stack, Kind::Databases, "orders")["version"], "16");
    assert_eq!(hooks.stats().updated(Kind::Databases), 1);

    // suspend stops, and clearing it starts again.
    patch_spec(&redis, "cache", json!({"suspend": true})).await;
    wait_for(
        &redis,
        "cache",
        "Suspended",
        SHORT,
        not_ready_because("Suspended"),
    )
    .await;
    assert_eq!(only(&stack, Kind::Redis, "cache")["status"], "stopped");
    patch_spec(&redis, "cache", json!({"suspend": false})).await;
    wait_for(&redis, "cache", "Ready", SHORT, |p| {
        is_ready(p) && condition(p, "Ready").is_some_and(|(_, r)| r == "Available")
    })
    .await;
    assert_eq!(hooks.stats().acted(Kind::Redis), 2, "one stop, one start");

    databases
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&databases, "orders", "deleted at the portal", SHORT).await;
    assert!(
        hooks
            .resources(Kind::Databases)
            .iter()
            .all(|d| d["name"] != "orders"),
        "the portal confirmed it gone before the finalizer came off"
    );
    stack.finish().await;
}

/// A web service made once (its first deployment with it), its env from a literal and from a
/// Secret that then changes (the variable follows, one update, nobody touching the object),
/// instances changed in place, and a `deploy.revision` bump whose answer is lost: exactly one
/// deployment, found again, and none more after an operator restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_service_follows_its_env_and_deploys_each_revision_once() {
    let mut stack = paas_stack(&[]).await;
    let hooks = stack.paas().sim.hooks().clone();
    put_secret(&stack, "orders-db", "uri", "postgres://one").await;
    create(&stack.api::<PaasProject>(), &project("shop", json!({}))).await;
    let services = stack.api::<PaasWebService>();
    let service: PaasWebService = object(
        "PaasWebService",
        "api",
        json!({"projectRef": {"name": "shop"}, "repository": "https://github.com/acme/api",
               "port": 3000, "buildCommand": "npm run build", "minInstances": 1, "maxInstances": 2,
               "env": [{"name": "NODE_ENV", "value": "production"},
                       {"name": "DATABASE_URL",
                        "valueFrom": {"secretKeyRef": {"name": "orders-db", "key": "uri"}}}],
               "deploy": {"revision": "1"}}),
    );
    create(&services, &service).await;
    let env_kept =
        |s: &PaasWebService| is_ready(s) && s.status.as_ref().is_some_and(|s| s.env.len() == 2);
    let ready = wait_for(&services, "api", "live with its env", SHORT, env_kept).await;
    let id = ready.status.as_ref().unwrap().managed.id.clone().unwrap();
    let status = ready.status.as_ref().unwrap();
    assert_eq!(status.deployed_revision.as_deref(), Some("1"));
    assert_eq!(hooks.stats().attempts(Kind::WebServices, "api"), 1);
    assert_eq!(
        hooks.stats().deployments,
        0,
        "the create's deployment is the first"
    );
    let env = |hooks: &SimHandle| hooks.env(&id).unwrap();
    assert_eq!(env(&hooks)["NODE_ENV"], "production");
    assert_eq!(env(&hooks)["DATABASE_URL"], "postgres://one");

    let updates = hooks.stats().env_updates;
    put_secret(&stack, "orders-db", "uri", "postgres://two").await;
    wait_portal(&stack, "the variable follows the Secret", |_| {
        env(&hooks)["DATABASE_URL"] == "postgres://two"
    })
    .await;
    let hash = |s: &PaasWebService| {
        let status = s.status.as_ref()?;
        let var = status.env.iter().find(|v| v.name == "DATABASE_URL")?;
        Some(var.value_hash.clone())
    };
    let before = hash(&ready);
    wait_for(&services, "api", "the new value recorded", SHORT, |s| {
        hash(s).is_some() && hash(s) != before
    })
    .await;
    two_more_looks(
        &services,
        "api",
        &hooks,
        "/api/web-services/{web_service_id}/env",
    )
    .await;
    assert_eq!(
        hooks.stats().env_updates - updates,
        1,
        "one update for one changed value"
    );

    patch_spec(&services, "api", json!({"maxInstances": 3})).await;
    wait_portal(&stack, "instances changed", |stack| {
        only(stack, Kind::WebServices, "api")["max_instances"] == 3
    })
    .await;

    lose_next_answer(&hooks, Call::Deploy);
    patch_spec(&services, "api", json!({"deploy": {"revision": "2"}})).await;
    let deployed = |s: &PaasWebService| {
        s.status.as_ref().is_some_and(|s| {
            s.deployed_revision.as_deref() == Some("2") && s.deploy_requested.is_none()
        })
    };
    wait_for(&services, "api", "revision 2 deployed", SHORT, deployed).await;
    assert_eq!(hooks.stats().fired("deploy", "lose_answer"), 1);
    assert_eq!(
        hooks.stats().deployments,
        1,
        "exactly one deployment for revision 2"
    );
    wait_for(&services, "api", "its deployment live", SHORT, |s| {
        s.status
            .as_ref()
            .and_then(|s| s.latest_deployment.as_ref())
            .is_some_and(|d| d.status == "live")
    })
    .await;

    stack.kill_operator().await;
    stack.start_operator();
    let route = "/api/web-services/{web_service_id}/deployments";
    two_more_looks(&services, "api", &hooks, route).await;
    assert_eq!(hooks.stats().deployments, 1, "none more after a restart");
    stack.finish().await;
}

/// A bucket and its access key: the key's create answer is lost (its secret with it), so that key
/// is revoked and another made, whose secret reaches the Secret; `public` changes in place; the
/// object's deletion revokes the key and deletes the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_gets_one_usable_key_even_when_an_answer_is_lost() {
    let stack = paas_stack(&[]).await;
    let hooks = stack.paas().sim.hooks().clone();
    lose_next_answer(&hooks, Call::CreateStorageKey);
    let buckets = stack.api::<PaasBucket>();
    let bucket: PaasBucket = object(
        "PaasBucket",
        "assets",
        json!({"writeConnectionSecretToRef": {"name": "assets-key"}}),
    );
    create(&buckets, &bucket).await;
    let keyed =
        |b: &PaasBucket| is_ready(b) && b.status.as_ref().is_some_and(|s| s.key_id.is_some());
    let ready = wait_for(&buckets, "assets", "Ready with its key", SHORT, keyed).await;
    assert_eq!(hooks.stats().fired("create_storage_key", "lose_answer"), 1);
    assert_eq!(hooks.stats().attempts(Kind::Buckets, "assets"), 1);
    let keys = hooks.resources(Kind::StorageKeys);
    assert_eq!(
        keys.len(),
        1,
        "the key whose secret was lost is revoked: {keys:?}"
    );
    let status = ready.status.unwrap();
    assert_eq!(keys[0]["id"], status.key_id.clone().unwrap().as_str());
    let secret = secret_map(&stack, "assets-key").await;
    assert_eq!(
        secret["accessKeyId"],
        keys[0]["access_key_id"].as_str().unwrap()
    );
    assert!(!secret["secretAccessKey"].is_empty());
    assert_eq!(
        secret["bucket"],
        only(&stack, Kind::Buckets, "assets")["bucket"]
            .as_str()
            .unwrap()
    );

    patch_spec(&buckets, "assets", json!({"public": true})).await;
    wait_portal(&stack, "public", |stack| {
        only(stack, Kind::Buckets, "assets")["public"] == true
    })
    .await;

    buckets
        .delete("assets", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&buckets, "assets", "deleted", SHORT).await;
    assert!(hooks.resources(Kind::Buckets).is_empty());
    assert!(
        hooks.resources(Kind::StorageKeys).is_empty(),
        "its key revoked"
    );
    stack.finish().await;
}

/// The service's secret bindings at the portal, by variable: (project secret id, binding id).
fn bindings_of(stack: &Stack, service_id: &str) -> std::collections::BTreeMap<String, String> {
    stack
        .paas()
        .sim
        .hooks()
        .resources(Kind::SecretBindings)
        .into_iter()
        .filter(|b| b["web_service_id"] == service_id)
        .map(|b| {
            let text = |field: &str| b[field].as_str().unwrap_or_default().to_owned();
            (text("alias_key"), text("project_secret_id"))
        })
        .collect()
}

/// A project secret made at the portal (as in its console): its id.
fn portal_secret(stack: &Stack, project_id: &str, key: &str, scope: &str) -> String {
    let made = stack
        .paas()
        .sim
        .hooks()
        .create_out_of_band(
            Kind::ProjectSecrets,
            json!({"project_id": project_id, "key": key, "value": "v", "scope": scope}),
        )
        .unwrap();
    made["id"].as_str().unwrap().to_owned()
}

fn bound_variables(s: &PaasWebService) -> Vec<String> {
    let status = s.status.as_ref();
    let bindings = status
        .map(|s| s.secret_bindings.as_slice())
        .unwrap_or_default();
    bindings.iter().map(|b| b.variable.clone()).collect()
}

/// The PaasProject "shop" with one project secret, STRIPE_KEY (production), once it is made.
async fn shop_with_a_secret(stack: &Stack) -> PaasProject {
    let projects = stack.api::<PaasProject>();
    let spec = json!({"secrets": [{"key": "STRIPE_KEY", "scope": "production", "value": "sk"}]});
    create(&projects, &project("shop", spec)).await;
    wait_for(&projects, "shop", "its secret made", SHORT, |p| {
        p.status.as_ref().is_some_and(|s| s.secrets.len() == 1)
    })
    .await
}

/// Secret bindings: one to a project secret of the PaasProject is made at once, one to a secret
/// that does not exist yet waits (`ProjectSecretMissing`, the first one kept) and is made once
/// the secret appears; a binding someone else made is left alone; a converged service makes no
/// more writes; one dropped from the spec is deleted; the binding ids are in status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_service_binds_project_secrets_and_leaves_other_bindings_alone() {
    let stack = paas_stack(&[]).await;
    let hooks = stack.paas().sim.hooks().clone();
    let shop = shop_with_a_secret(&stack).await;
    let project_id = project_id(&shop);
    let stripe_id = shop.status.as_ref().unwrap().secrets[0].id.clone();
    let services = stack.api::<PaasWebService>();
    let service: PaasWebService = object(
        "PaasWebService",
        "api",
        json!({"projectRef": {"name": "shop"}, "repository": "https://github.com/acme/api",
               "port": 3000, "env": [{"name": "NODE_ENV", "value": "production"}],
               "secretBindings": [{"secret": "STRIPE_KEY", "as": "STRIPE_SECRET_KEY"},
                                  {"secret": "MAIL_KEY", "scope": "staging"}]}),
    );
    create(&services, &service).await;
    let waiting = wait_for(&services, "api", "waiting for MAIL_KEY", SHORT, |s| {
        condition(s, "Synced") == Some(("False".into(), "ProjectSecretMissing".into()))
            && bound_variables(s) == ["STRIPE_SECRET_KEY"]
    })
    .await;
    let service_id = waiting.status.as_ref().unwrap().managed.id.clone().unwrap();
    assert_eq!(
        bindings_of(&stack, &service_id),
        [("STRIPE_SECRET_KEY".to_owned(), stripe_id.clone())].into()
    );
    let other_id = portal_secret(&stack, &project_id, "OTHER", "production");
    hooks
        .create_out_of_band(
            Kind::SecretBindings,
            json!({"web_service_id": service_id, "project_secret_id": other_id,
                   "alias_key": "OTHER"}),
        )
        .unwrap();

    let mail_id = portal_secret(&stack, &project_id, "MAIL_KEY", "staging");
    let synced = wait_for(&services, "api", "both bound and in sync", SHORT, |s| {
        condition(s, "Synced") == Some(("True".into(), "Synced".into()))
            && bound_variables(s) == ["MAIL_KEY", "STRIPE_SECRET_KEY"]
    })
    .await;
    let expected: std::collections::BTreeMap<String, String> = [
        ("MAIL_KEY".to_owned(), mail_id.clone()),
        ("OTHER".to_owned(), other_id.clone()),
        ("STRIPE_SECRET_KEY".to_owned(), stripe_id.clone()),
    ]
    .into();
    assert_eq!(bindings_of(&stack, &service_id), expected);
    let recorded = &synced.status.as_ref().unwrap().secret_bindings;
    let portal = hooks.resources(Kind::SecretBindings);
    for binding in recorded {
        let at_portal = portal.iter().find(|b| b["id"] == binding.id.as_str());
        assert_eq!(
            at_portal.map(|b| b["alias_key"].clone()),
            Some(json!(binding.variable)),
            "status names the binding by its id"
        );
    }
    assert_eq!(hooks.stats().created(Kind::SecretBindings), 2);

    // Converged: two more looks at the bindings write nothing.
    let writes = |hooks: &SimHandle| {
        let stats = hooks.stats();
        let all = [Kind::SecretBindings, Kind::EnvVars, Kind::WebServices];
        all.iter()
            .map(|k| stats.created(*k) + stats.updated(*k) + stats.deleted(*k))
            .sum::<u64>()
            + stats.env_updates
    };
    let written = writes(&hooks);
    let route = "/api/web-services/{web_service_id}/secret-bindings";
    two_more_looks(&services, "api", &hooks, route).await;
    assert_eq!(
        writes(&hooks),
        written,
        "a converged service writes nothing"
    );

    patch_spec(
        &services,
        "api",
        json!({"secretBindings": [
                {"secret": "MAIL_KEY", "scope": "staging"}]}),
    )
    .await;
    wait_for(
        &services,
        "api",
        "the dropped binding forgotten",
        SHORT,
        |s| bound_variables(s) == ["MAIL_KEY"],
    )
    .await;
    let expected: std::collections::BTreeMap<String, String> = [
        ("MAIL_KEY".to_owned(), mail_id),
        ("OTHER".to_owned(), other_id),
    ]
    .into();
    assert_eq!(bindings_of(&stack, &service_id), expected);
    assert_eq!(hooks.stats().deleted(Kind::SecretBindings), 1);
    stack.finish().await;
}

/// The answers of a binding's create and of a rename are lost after the portal acted: the binding
/// is found by its variable and recorded (no second binding), the rename is seen done (no second
/// PATCH needed, and never a new service), and a restart changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_a_binding_or_a_rename_makes_nothing_twice() {
    let mut stack = paas_stack(&[]).await;
    let hooks = stack.paas().sim.hooks().clone();
    let shop = shop_with_a_secret(&stack).await;
    let stripe_id = shop.status.as_ref().unwrap().secrets[0].id.clone();
    lose_next_answer(&hooks, Call::CreateSecretBinding);
    let services = stack.api::<PaasWebService>();
    let service: PaasWebService = object(
        "PaasWebService",
        "api",
        json!({"projectRef": {"name": "shop"}, "repository": "https://github.com/acme/api",
               "port": 3000, "secretBindings": [{"secret": "STRIPE_KEY"}]}),
    );
    create(&services, &service).await;
    let synced = |s: &PaasWebService| {
        condition(s, "Synced") == Some(("True".into(), "Synced".into()))
            && bound_variables(s) == ["STRIPE_KEY"]
    };
    let bound = wait_for(&services, "api", "its binding recorded", SHORT, synced).await;
    assert_eq!(
        hooks.stats().fired("create_secret_binding", "lose_answer"),
        1
    );
    let service_id = bound.status.as_ref().unwrap().managed.id.clone().unwrap();
    assert_eq!(
        bindings_of(&stack, &service_id),
        [("STRIPE_KEY".to_owned(), stripe_id)].into(),
        "one binding, the one whose answer was lost"
    );
    let recorded = &bound.status.as_ref().unwrap().secret_bindings[0].id;
    let portal = hooks.resources(Kind::SecretBindings);
    assert_eq!(
        portal[0]["id"],
        recorded.as_str(),
        "status names it by its id"
    );

    lose_next_answer(&hooks, Call::Update);
    patch_spec(&services, "api", json!({"externalName": "api-v2"})).await;
    wait_for(&services, "api", "renamed", SHORT, |s| {
        s.status
            .as_ref()
            .and_then(|s| s.managed.external_name.as_deref())
            == Some("api-v2")
            && synced(s)
    })
    .await;
    assert_eq!(hooks.stats().fired("update", "lose_answer"), 1);
    let at_portal = hooks.resources(Kind::WebServices);
    assert_eq!(
        at_portal.len(),
        1,
        "renamed, never made again: {at_portal:?}"
    );
    assert_eq!(at_portal[0]["id"], service_id.as_str());
    assert_eq!(at_portal[0]["name"], "api-v2");
    assert_eq!(hooks.stats().attempts(Kind::WebServices, "api-v2"), 0);
    assert_eq!(hooks.stats().created(Kind::SecretBindings), 1);

    stack.kill_operator().await;
    stack.start_operator();
    let route = "/api/web-services/{web_service_id}/secret-bindings";
    two_more_looks(&services, "api", &hooks, route).await;
    assert_eq!(
        hooks.stats().created(Kind::SecretBindings),
        1,
        "none after a restart"
    );
    assert_eq!(hooks.resources(Kind::WebServices).len(), 1);
    stack.finish().await;
}

/// One binding per portal resource counts names within their project: a web service and a
/// database of one name in two projects are two resources, both bound; a second object for the
/// same name in the same project is `AlreadyBound`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_name_in_two_projects_is_two_bindings() {
    let stack = paas_stack(&[]).await;
    let hooks = stack.paas().sim.hooks().clone();
    let projects = stack.api::<PaasProject>();
    create(&projects, &project("shop", json!({}))).await;
    create(&projects, &project("lab", json!({}))).await;
    let services = stack.api::<PaasWebService>();
    let databases = stack.api::<PaasDatabase>();
    let service = |name: &str, project: &str| -> PaasWebService {
        object(
            "PaasWebService",
            name,
            json!({"projectRef": {"name": project}, "externalName": "api",
                   "repository": "https://github.com/acme/api", "port": 3000}),
        )
    };
    create(&services, &service("shop-api", "shop")).await;
    create(&services, &service("lab-api", "lab")).await;
    for (name, project) in [("shop-db", "shop"), ("lab-db", "lab")] {
        let database: PaasDatabase = object(
            "PaasDatabase",
            name,
            json!({"projectRef": {"name": project}, "externalName": "main",
                   "parameters": {"engine": "postgresql", "version": "16", "plan": "starter"}}),
        );
        create(&databases, &database).await;
    }
    wait_for(&services, "shop-api", "Ready", SHORT, is_ready).await;
    wait_for(&services, "lab-api", "Ready", SHORT, is_ready).await;
    wait_for(&databases, "shop-db", "Ready", SHORT, is_ready).await;
    wait_for(&databases, "lab-db", "Ready", SHORT, is_ready).await;
    // Once shop-api holds the binding (two created in one second would be ordered by uid).
    create(&services, &service("shop-api-2", "shop")).await;
    wait_for(
        &services,
        "shop-api-2",
        "AlreadyBound",
        SHORT,
        not_ready_because("AlreadyBound"),
    )
    .await;
    assert_eq!(hooks.resources(Kind::WebServices).len(), 2);
    assert_eq!(hooks.resources(Kind::Databases).len(), 2);
    assert_eq!(hooks.stats().attempts(Kind::WebServices, "api"), 2);
    stack.finish().await;
}

/// The one web service at the portal with id `id`.
fn service_by_id(stack: &Stack, id: &str) -> Value {
    let services = stack.paas().sim.hooks().resources(Kind::WebServices);
    let found = services.into_iter().find(|s| s["id"] == id);
    found.unwrap_or_else(|| panic!("no web service {id}"))
}

/// A changed name renames the web service by its id (one PATCH, no create); a name another web
/// service of the project holds is refused (`AlreadyExists`, no PATCH), one in another project
/// is not in the way; deleting the object deletes the renamed service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_service_is_renamed_by_id_unless_another_of_its_project_has_the_name() {
    let stack = paas_stack(&[]).await;
    let hooks = stack.paas().sim.hooks().clone();
    let projects = stack.api::<PaasProject>();
    create(&projects, &project("shop", json!({}))).await;
    create(&projects, &project("lab", json!({}))).await;
    let shop = wait_for(&projects, "shop", "Ready", SHORT, is_ready).await;
    let lab = wait_for(&projects, "lab", "Ready", SHORT, is_ready).await;
    let services = stack.api::<PaasWebService>();
    let service: PaasWebService = object(
        "PaasWebService",
        "api",
        json!({"projectRef": {"name": "shop"}, "repository": "https://github.com/acme/api",
               "port": 3000}),
    );
    create(&services, &service).await;
    let ready = wait_for(&services, "api", "Ready", SHORT, is_ready).await;
    let id = ready.status.as_ref().unwrap().managed.id.clone().unwrap();
    let patches = || {
        hooks
            .stats()
            .route_total("PATCH", "/api/web-services/{web_service_id}")
    };
    let rename = |name: &'static str| {
        let services = services.clone();
        async move {
            patch_spec(&services, "api", json!({"externalName": name})).await;
        }
    };
    let bound_to = |name: &'static str| {
        move |s: &PaasWebService| {
            s.status
                .as_ref()
                .and_then(|s| s.managed.external_name.as_deref())
                == Some(name)
                && condition(s, "Synced") == Some(("True".into(), "Synced".into()))
        }
    };
    // Another project's web service of the wanted name is not in the way.
    let foreign = json!({"name": "api-v2", "project_id": project_id(&lab),
                         "git_repository_url": "https://github.com/acme/lab", "port": 80});
    hooks
        .create_out_of_band(Kind::WebServices, foreign)
        .unwrap();
    let before = patches();
    rename("api-v2").await;
    wait_for(
        &services,
        "api",
        "renamed to api-v2",
        SHORT,
        bound_to("api-v2"),
    )
    .await;
    assert_eq!(service_by_id(&stack, &id)["name"], "api-v2");
    assert_eq!(patches() - before, 1, "one PATCH of the name");
    assert_eq!(
        hooks.stats().created(Kind::WebServices),
        1,
        "no second create"
    );
    assert_eq!(hooks.stats().attempts(Kind::WebServices, "api-v2"), 0);

    let taken = json!({"name": "api-v3", "project_id": project_id(&shop),
                       "git_repository_url": "https://github.com/acme/other", "port": 80});
    hooks.create_out_of_band(Kind::WebServices, taken).unwrap();
    let before = patches();
    rename("api-v3").await;
    wait_for(&services, "api", "AlreadyExists", SHORT, |s| {
        condition(s, "Synced") == Some(("False".into(), "AlreadyExists".into()))
    })
    .await;
    assert_eq!(patches(), before, "nothing sent");
    assert_eq!(service_by_id(&stack, &id)["name"], "api-v2");

    rename("api-v4").await;
    wait_for(
        &services,
        "api",
        "renamed to api-v4",
        SHORT,
        bound_to("api-v4"),
    )
    .await;
    assert_eq!(service_by_id(&stack, &id)["name"], "api-v4");
    services
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&services, "api", "deleted", SHORT).await;
    let left: Vec<Value> = hooks.resources(Kind::WebServices);
    assert!(left.iter().all(|s| s["id"] != id.as_str()), "{left:?}");
    assert_eq!(left.len(), 2, "the others are left: {left:?}");
    for other in left {
        let id = other["id"].as_str().unwrap();
        hooks.delete_out_of_band(Kind::WebServices, id).unwrap();
    }
    stack.finish().await;
}

/// `envPolicy`: with `Merge` (the default) a variable and a binding made at the portal by
/// someone else stay; with `Exclusive` they are deleted, one DELETE each (never the bulk PUT),
/// what the spec lists is kept, and a converged service writes nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_env_policy_removes_the_variables_and_bindings_the_spec_does_not_list() {
    let stack = paas_stack(&[]).await;
    let hooks = stack.paas().sim.hooks().clone();
    let shop = shop_with_a_secret(&stack).await;
    let stripe_id = shop.status.as_ref().unwrap().secrets[0].id.clone();
    let services = stack.api::<PaasWebService>();
    let service: PaasWebService = object(
        "PaasWebService",
        "api",
        json!({"projectRef": {"name": "shop"}, "repository": "https://github.com/acme/api",
               "port": 3000, "env": [{"name": "NODE_ENV", "value": "production"}],
               "secretBindings": [{"secret": "STRIPE_KEY"}]}),
    );
    create(&services, &service).await;
    let synced = |s: &PaasWebService| {
        is_ready(s)
            && condition(s, "Synced") == Some(("True".into(), "Synced".into()))
            && bound_variables(s) == ["STRIPE_KEY"]
            && s.status.as_ref().is_some_and(|s| s.env.len() == 1)
    };
    let ready = wait_for(&services, "api", "in sync", SHORT, synced).await;
    let id = ready.status.as_ref().unwrap().managed.id.clone().unwrap();
    let other_id = portal_secret(&stack, &project_id(&shop), "OTHER", "production");
    hooks
        .create_out_of_band(
            Kind::EnvVars,
            json!({"web_service_id": id, "key": "EXTRA", "value": "x"}),
        )
        .unwrap();
    hooks
        .create_out_of_band(
            Kind::SecretBindings,
            json!({"web_service_id": id, "project_secret_id": other_id, "alias_key": "OTHER"}),
        )
        .unwrap();
    let env = || hooks.env(&id).unwrap().into_keys().collect::<Vec<_>>();

    // Merge: two more looks leave them.
    let route = "/api/web-services/{web_service_id}/env";
    two_more_looks(&services, "api", &hooks, route).await;
    assert_eq!(env(), ["EXTRA", "NODE_ENV"]);
    assert_eq!(bindings_of(&stack, &id).len(), 2);

    patch_spec(&services, "api", json!({"envPolicy": "Exclusive"})).await;
    wait_portal(&stack, "only what the spec lists", |stack| {
        env() == ["NODE_ENV"] && bindings_of(stack, &id).len() == 1
    })
    .await;
    assert_eq!(
        bindings_of(&stack, &id),
        [("STRIPE_KEY".to_owned(), stripe_id)].into()
    );
    let stats = hooks.stats();
    assert_eq!(
        stats.route_total("DELETE", "/api/web-services/{web_service_id}/env/{var_id}"),
        1
    );
    assert_eq!(
        stats.route_total("PUT", "/api/web-services/{web_service_id}/env/bulk"),
        0
    );
    assert_eq!(stats.deleted(Kind::SecretBindings), 1);
    assert_eq!(stats.created(Kind::SecretBindings), 1);

    let env_writes = || hooks.stats().env_updates;
    let written = (env_writes(), hooks.stats().deleted(Kind::SecretBindings));
    two_more_looks(&services, "api", &hooks, route).await;
    assert_eq!(
        (env_writes(), hooks.stats().deleted(Kind::SecretBindings)),
        written,
        "a converged service writes nothing"
    );
    stack.finish().await;
}
