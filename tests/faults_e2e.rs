//! The fault suite: whatever goes wrong, nothing is lost and nothing is duplicated.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use htx_operator::api::{Database, DatabaseSpec};
use htx_operator::sim::{Faults, Kind, SimConfig};
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams};
use support::{Stack, StackOptions, TOKEN_SECRET, all_ready, create_databases};
use tokio::time::Instant;

fn spec() -> DatabaseSpec {
    serde_json::from_value(serde_json::json!({"engine": "postgresql", "sku": "db-s-1vcpu-1gb"}))
        .unwrap()
}

/// Every portal database name, asserting none appears twice.
fn portal_names(stack: &Stack) -> BTreeSet<String> {
    let names: Vec<String> = stack
        .sim
        .hooks()
        .databases()
        .iter()
        .map(|db| db["name"].as_str().unwrap().to_owned())
        .collect();
    let unique: BTreeSet<String> = names.iter().cloned().collect();
    assert_eq!(unique.len(), names.len(), "a portal name exists twice");
    unique
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
        ]
        .to_vec(),
        ..StackOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_slow_portal_still_converges_exactly_once() {
    let stack = Stack::start(fast(1_000)).await;
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
    let api = stack.api::<Database>();
    create_databases(&api, &spec(), "flaky", 40).await;
    all_ready(&api, 40, Duration::from_secs(180)).await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 40);
    assert_eq!(portal_names(&stack).len(), 40);
    stack.sim.hooks().clear_faults();
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_200_creates_then_200_deletes_leave_nothing_behind() {
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
        stack.kill_operator().await;
        stack.start_operator();
    }
    all_ready(&api, 200, Duration::from_secs(240)).await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 200);
    assert_eq!(portal_names(&stack).len(), 200);

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
    assert!(portal_names(&stack).is_empty(), "leftovers at the portal");
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
        .add_token(htx_operator::sim::TokenSpec::new(
            "htx_e2e_new_token",
            htx_operator::sim::Scope::Full,
        ))
        .unwrap();
    stack.put_token(TOKEN_SECRET, "htx_e2e_new_token").await;
    all_ready(&api, 20, Duration::from_secs(90)).await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 20);
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
    stack.finish().await;
}

/// A control plane of the test's own, so that restarting its API server disturbs no other
/// test; stopped on drop.
struct OwnControlPlane {
    dir: std::path::PathBuf,
}

impl OwnControlPlane {
    /// `None` when the tests run on someone else's cluster (`HTX_E2E_KUBECONFIG` naming kind,
    /// k3d, a real one): its API server is not ours to restart.
    fn up() -> Option<Self> {
        let shared = support::cluster_dir().join("kubeconfig");
        if std::env::var_os(support::KUBECONFIG_ENV).is_some_and(|path| shared != path) {
            return None;
        }
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(support::unique_name("restart-cluster"));
        let plane = Self { dir };
        plane.script(&["up"]);
        Some(plane)
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
    let Some(plane) = tokio::task::spawn_blocking(OwnControlPlane::up)
        .await
        .unwrap()
    else {
        eprintln!("skipped: the API server of HTX_E2E_KUBECONFIG's cluster is not ours to restart");
        return;
    };
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
    assert_eq!(portal_names(&stack).len(), 30);
    stack.finish().await;
    tokio::task::spawn_blocking(move || drop(plane))
        .await
        .unwrap();
}
