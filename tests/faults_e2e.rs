//! The fault suite: whatever goes wrong, nothing is lost and nothing is duplicated. Each fault
//! is shown to have fired, "exactly once" counts every create attempt the portal received (not
//! only the ones it answered 201), and every test ends with nothing left at the portal.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use htx_operator::api::{Database, DatabaseSpec, Function, Ownership};
use htx_operator::providers::htx::sim::{AfterEffect, Armed, Call, Faults, Kind, SimConfig};
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams};
use support::{Stack, StackOptions, TOKEN_SECRET, all_ready, create, create_databases, object};
use tokio::time::Instant;

fn spec() -> DatabaseSpec {
    serde_json::from_value(serde_json::json!({"engine": "postgresql", "sku": "db-s-1vcpu-1gb"}))
        .unwrap()
}

/// The portal received exactly one create for each of `names` names, and refused none as a
/// duplicate: nothing asked twice.
fn assert_one_attempt_each(stack: &Stack, names: usize) {
    let stats = stack.sim.hooks().stats();
    assert!(
        stats.attempted_more_than_once().is_empty(),
        "asked for twice: {:?}",
        stats.attempted_more_than_once()
    );
    assert_eq!(
        stats.create_attempts.len(),
        names,
        "{:?}",
        stats.create_attempts
    );
    assert_eq!(
        stats.with_status(409),
        0,
        "a create was refused as a duplicate"
    );
}

fn fast(rate_per_minute: u32) -> StackOptions {
    StackOptions {
        sim: SimConfig {
            rate_per_minute: rate_per_minute * 6 / 5,
            provision_delay: Duration::from_millis(500),
            ..SimConfig::default()
        },
        operator_args: [
            "--rate-per-minute".to_owned(),
            rate_per_minute.to_string(),
            "--poll".to_owned(),
            "1s".to_owned(),
            "--portal-timeout".to_owned(),
            "3s".to_owned(),
        ]
        .to_vec(),
        ..StackOptions::default()
    }
}

fn arm(stack: &Stack, fault: AfterEffect, count: u32) {
    stack.sim.hooks().arm(Armed {
        on: Call::Create,
        fault,
        count,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_slow_portal_still_converges_exactly_once() {
    let mut options = fast(1_000);
    // The lists do not lag here: a function whose create got no answer is looked for that
    // long before it is asked for again (functions cannot be looked up by name).
    options
        .operator_args
        .extend(["--list-lag".to_owned(), "5s".to_owned()]);
    let stack = Stack::start(options).await;
    stack
        .sim
        .hooks()
        .set_faults(Faults {
            error_rate: 0.2,
            latency_ms: 30,
            // The response is lost after the portal acted: the hard case for exactly-once.
            drop_rate: 0.05,
            seed: Some(42),
            ..Faults::default()
        })
        .unwrap();
    // And, certainly, after the portal acted: lost answers, 5xx and answers that never come.
    arm(&stack, AfterEffect::LoseAnswer, 3);
    arm(&stack, AfterEffect::ServerError, 3);
    arm(&stack, AfterEffect::Stall, 2);
    let databases = stack.api::<Database>();
    let functions = stack.api::<Function>();
    create_databases(&databases, &spec(), "flaky", 40).await;
    for i in 0..10 {
        let function = object(
            "Function",
            &format!("flaky-fn-{i}"),
            serde_json::json!({"runtime": "go1.22"}),
        );
        create(&functions, &function).await;
    }
    all_ready(&databases, 40, Duration::from_secs(240)).await;
    all_ready(&functions, 10, Duration::from_secs(240)).await;
    let stats = stack.sim.hooks().stats();
    assert_eq!(stats.fired("create", "lose_answer"), 3);
    assert_eq!(stats.fired("create", "server_error"), 3);
    assert_eq!(stats.fired("create", "stall"), 2);
    assert!(stats.with_status(503) > 3, "random 5xx fired too");
    assert!(stats.with_status(0) > 2, "random drops fired too");
    assert_eq!(stats.creates.get(Kind::Databases), 40);
    assert_eq!(stats.creates.get(Kind::Functions), 10);
    assert_one_attempt_each(&stack, 50);
    stack.sim.hooks().clear_faults();
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_while_creates_are_in_flight_then_200_deletes_leave_nothing_behind() {
    let mut stack = Stack::start(fast(500)).await;
    let api = stack.api::<Database>();
    create_databases(&api, &spec(), "churn", 200).await;
    for threshold in [30, 90, 150] {
        let deadline = Instant::now() + Duration::from_secs(120);
        while stack.sim.hooks().creates_count(Kind::Databases) < threshold {
            assert!(
                Instant::now() < deadline,
                "creates stalled below {threshold}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The kill lands while the portal holds a create it has carried out.
        stack.sim.hooks().hold_creates(true);
        stack.kill_operator_once_a_create_is_held().await;
        stack.start_operator();
    }
    all_ready(&api, 200, Duration::from_secs(240)).await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 200);
    assert_one_attempt_each(&stack, 200);

    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "Databases still there after deleting all"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(stack.sim.hooks().deletes_count(Kind::Databases), 200);
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_and_partial_lists_during_200_creates_create_each_once() {
    let stack = Stack::start(fast(600)).await;
    stack
        .sim
        .hooks()
        .set_faults(Faults {
            list_lag_ms: 3_000,
            partial_list_rate: 0.2,
            seed: Some(11),
            ..Faults::default()
        })
        .unwrap();
    let api = stack.api::<Database>();
    create_databases(&api, &spec(), "lagged", 200).await;
    all_ready(&api, 200, Duration::from_secs(240)).await;
    assert_one_attempt_each(&stack, 200);
    let unbound: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|db| {
            let managed = &db.status.as_ref().unwrap().managed;
            managed.ownership != Some(Ownership::Created) || managed.id.is_none()
        })
        .map(|db| db.name_any())
        .collect();
    assert!(
        unbound.is_empty(),
        "not bound to what they created: {unbound:?}"
    );
    stack.sim.hooks().clear_faults();
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_the_portal_accepts_then_abandons_leave_no_orphan() {
    let stack = Stack::start(fast(1_000)).await;
    let api = stack.api::<Database>();
    create_databases(&api, &spec(), "async", 40).await;
    all_ready(&api, 40, Duration::from_secs(120)).await;
    stack
        .sim
        .hooks()
        .set_faults(Faults {
            async_deletes: true,
            abandon_delete_rate: 0.3,
            seed: Some(7),
            ..Faults::default()
        })
        .unwrap();
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let objects: BTreeSet<String> = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|db| db.name_any())
            .collect();
        let at_portal: BTreeSet<String> = stack
            .sim
            .hooks()
            .databases()
            .iter()
            .map(|db| db["name"].as_str().unwrap().to_owned())
            .collect();
        // No finalizer comes off before the portal confirmed: nothing at the portal without
        // its object.
        let orphans: Vec<_> = at_portal.difference(&objects).collect();
        assert!(
            orphans.is_empty(),
            "released while still at the portal: {orphans:?}"
        );
        if objects.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still deleting: {objects:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stack.sim.hooks().stats().abandoned_deletes > 0,
        "some deletes were abandoned"
    );
    assert_eq!(stack.sim.hooks().deletes_count(Kind::Databases), 40);
    stack.sim.hooks().clear_faults();
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_then_a_rotated_secret_recovers_every_object() {
    let stack = Stack::start(fast(600)).await;
    let api = stack.api::<Database>();
    create_databases(&api, &spec(), "before", 10).await;
    all_ready(&api, 10, Duration::from_secs(60)).await;

    stack.sim.hooks().revoke_token(&stack.token).unwrap();
    create_databases(&api, &spec(), "during", 10).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = api.list(&ListParams::default()).await.unwrap().items;
        let unauthorized = list
            .iter()
            .filter(|db| db.name_any().starts_with("during"))
            .filter(|db| {
                db.status.as_ref().is_some_and(|s| {
                    s.managed
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.reason == "Unauthorized")
                })
            })
            .count();
        if unauthorized == 10 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{unauthorized} of 10 say Unauthorized"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    stack
        .sim
        .hooks()
        .add_token(htx_operator::providers::htx::sim::TokenSpec::new(
            "htx_e2e_new_token",
            htx_operator::providers::htx::sim::Scope::Full,
        ))
        .unwrap();
    stack.put_token(TOKEN_SECRET, "htx_e2e_new_token").await;
    all_ready(&api, 20, Duration::from_secs(90)).await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 20);
    assert_one_attempt_each(&stack, 20);
    assert!(!stack.operator_log().contains("htx_e2e_new_token"));
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_from_another_client_pauses_the_operator_as_one() {
    // The portal's real limit; another client sharing the token uses it all up.
    let stack = Stack::start(StackOptions {
        sim: SimConfig {
            rate_per_minute: 120,
            provision_delay: Duration::from_millis(500),
            ..SimConfig::default()
        },
        ..StackOptions::default()
    })
    .await;
    let storm = reqwest::Client::new();
    for _ in 0..120 {
        storm
            .get(format!("{}/api/portal/databases", stack.sim.url()))
            .bearer_auth(&stack.token)
            .send()
            .await
            .unwrap();
    }
    stack.sim.hooks().reset_stats();

    let api = stack.api::<Database>();
    create_databases(&api, &spec(), "stormy", 10).await;
    all_ready(&api, 10, Duration::from_secs(150)).await;
    let stats = stack.sim.hooks().stats();
    let throttled = stats.with_status(429);
    assert!(throttled >= 1, "the storm made the portal answer 429");
    assert!(
        throttled <= 3,
        "{throttled} answers 429: after the first, every call of the token waits for Retry-After"
    );
    assert_eq!(stats.creates.get(Kind::Databases), 10);
    assert_one_attempt_each(&stack, 10);
    stack.finish().await;
}

/// A control plane of the test's own, so that restarting its API server disturbs no other
/// test; stopped on drop.
struct OwnControlPlane {
    dir: std::path::PathBuf,
}

impl OwnControlPlane {
    /// Brought up with `hack/local-cluster.sh`, beside whatever cluster the other tests use.
    fn up() -> Self {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(support::unique_name("restart-cluster"));
        let plane = Self { dir };
        plane.script(&["up"]);
        plane
    }

    fn kubeconfig(&self) -> std::path::PathBuf {
        self.dir.join("kubeconfig")
    }

    fn script(&self, command: &[&str]) {
        let status = std::process::Command::new(support::repo_root().join("hack/local-cluster.sh"))
            .args(command)
            .arg(&self.dir)
            .env_remove(support::KUBECONFIG_ENV)
            .status()
            .expect("hack/local-cluster.sh runs");
        assert!(status.success(), "hack/local-cluster.sh {command:?} failed");
    }
}

impl Drop for OwnControlPlane {
    fn drop(&mut self) {
        self.script(&["down"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_mid_run_is_survived() {
    // Another cluster's API server is not ours to restart: this test always brings up a control
    // plane of its own (hack/local-cluster.sh), also when HTX_E2E_KUBECONFIG names another
    // cluster, and fails if it cannot.
    let plane = tokio::task::spawn_blocking(OwnControlPlane::up)
        .await
        .unwrap();
    let stack = Stack::start(StackOptions {
        kubeconfig: Some(plane.kubeconfig()),
        ..fast(600)
    })
    .await;
    let api = stack.api::<Database>();
    create_databases(&api, &spec(), "before", 20).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while stack.sim.hooks().creates_count(Kind::Databases) < 5 {
        assert!(Instant::now() < deadline, "no creates before the restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let plane = tokio::task::spawn_blocking(move || {
        plane.script(&["restart-apiserver"]);
        plane
    })
    .await
    .unwrap();

    // Objects created after the restart are seen only if the operator's watches recovered.
    create_databases(&api, &spec(), "after", 10).await;
    all_ready(&api, 30, Duration::from_secs(120)).await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 30);
    assert_one_attempt_each(&stack, 30);
    stack.finish().await;
    tokio::task::spawn_blocking(move || drop(plane))
        .await
        .unwrap();
}
