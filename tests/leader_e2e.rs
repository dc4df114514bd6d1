//! High availability: two operator processes with leader election on one Lease, against the real
//! API server and the portal simulator. Only the holder reconciles; when it dies the other takes
//! over within the lease time without a duplicate portal create; a leader that loses the Lease
//! exits; a leader stopped by SIGTERM hands the Lease over at once.

mod support;

use std::time::Duration;

use htx_operator::api::{Database, DatabaseSpec};
use htx_operator::providers::htx::sim::Kind;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{PostParams, ResourceExt};
use serde_json::json;
use support::{OperatorProcess, Stack, StackOptions, kubeconfig_path, wait_for};

const LEASE: &str = "htx-e2e-leader";
/// Short, so the test is quick: the retry period is 6 s / 7.5 = 0.8 s, the renew deadline 4 s.
const LEASE_DURATION: Duration = Duration::from_secs(6);
const RETRY_PERIOD: Duration = Duration::from_millis(800);
const SHORT: Duration = Duration::from_secs(60);

fn replica(stack: &Stack, identity: &str) -> OperatorProcess {
    let mut args = OperatorProcess::stack_args(stack);
    args.extend([
        "--leader-election".to_owned(),
        format!("--lease-name={LEASE}"),
        format!("--lease-namespace={}", stack.ns.name()),
        format!("--lease-duration={}s", LEASE_DURATION.as_secs()),
        format!("--lease-identity={identity}"),
    ]);
    OperatorProcess::spawn(stack, identity, &kubeconfig_path(), &args)
}

fn holder(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref()
}

async fn create_database(api: &Api<Database>, name: &str) {
    let spec: DatabaseSpec =
        serde_json::from_value(json!({"engine": "postgresql", "sku": "db-s-1vcpu-2gb"})).unwrap();
    api.create(&PostParams::default(), &Database::new(name, spec))
        .await
        .unwrap_or_else(|e| panic!("cannot create {name}: {e}"));
}

fn is_ready(db: &Database) -> bool {
    db.status.as_ref().is_some_and(|s| {
        s.managed
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

async fn all_ready(api: &Api<Database>, names: &[&str]) {
    for name in names {
        wait_for(api, name, "Ready", SHORT, is_ready).await;
    }
}

/// Every portal request and reconcile a replica counted.
async fn activity(replica: &OperatorProcess) -> (f64, f64) {
    let metrics = replica.metrics().await;
    (
        metrics.sum("htx_portal_requests_total", &[]),
        metrics.sum("htx_reconciles_total", &[]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_reconciles_and_the_other_takes_over_within_the_lease_time() {
    let stack = Stack::start_without_operator(StackOptions::default()).await;
    let leases: Api<Lease> = stack.api();
    let databases = stack.api::<Database>();

    let mut a = replica(&stack, "replica-a");
    wait_for(&leases, LEASE, "replica-a leads", SHORT, |l| {
        holder(l) == Some("replica-a")
    })
    .await;
    let b = replica(&stack, "replica-b");
    assert!(b.wait_ready(SHORT).await.contains("standby"));
    assert!(a.wait_ready(SHORT).await.contains("leader"));

    let first = ["alpha", "bravo", "charlie"];
    for name in first {
        create_database(&databases, name).await;
    }
    all_ready(&databases, &first).await;
    let (a_requests, a_reconciles) = activity(&a).await;
    assert!(a_requests > 0.0 && a_reconciles > 0.0, "the leader works");
    assert_eq!(
        activity(&b).await,
        (0.0, 0.0),
        "the standby neither calls the portal nor reconciles"
    );
    assert_eq!(b.metrics().await.value("htx_leader"), 0.0);
    assert_eq!(a.metrics().await.value("htx_leader"), 1.0);

    // Two more objects, then the leader dies at once, maybe in the middle of creating them.
    let second = ["delta", "echo"];
    for name in second {
        create_database(&databases, name).await;
    }
    a.kill().await;
    // A standby counts the lease duration from the last renewal it saw, which is at most one of
    // its looks (a retry period) before the kill; one more look to notice; plus slack for a
    // loaded machine and for this test's own polling of the Lease. (The time it takes is a
    // figure of BENCHMARKS.md, not of this test.)
    wait_for(
        &leases,
        LEASE,
        "replica-b takes over within the lease duration and two retry periods",
        LEASE_DURATION + 2 * RETRY_PERIOD + Duration::from_secs(2),
        |l| holder(l) == Some("replica-b"),
    )
    .await;
    assert!(b.wait_ready(SHORT).await.contains("leader"));

    all_ready(&databases, &[first.as_slice(), second.as_slice()].concat()).await;
    assert_eq!(
        stack.sim.hooks().creates_count(Kind::Databases),
        5,
        "one portal create per Database across the failover"
    );
    let mut names: Vec<String> = stack
        .sim
        .hooks()
        .databases()
        .iter()
        .map(|db| db["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["alpha", "bravo", "charlie", "delta", "echo"]);
    assert!(activity(&b).await.1 > 0.0, "the new leader reconciles");

    for replica in [&a, &b] {
        assert!(
            !replica.log().contains(&stack.token),
            "the token is in {}",
            replica.log_path().display()
        );
    }
    stack.finish().await;
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_the_lease_exits_at_once() {
    let stack = Stack::start_without_operator(StackOptions::default()).await;
    let leases: Api<Lease> = stack.api();
    let mut a = replica(&stack, "replica-a");
    let mut lease = wait_for(&leases, LEASE, "replica-a leads", SHORT, |l| {
        holder(l) == Some("replica-a")
    })
    .await;
    a.wait_ready(SHORT).await;

    // Someone else writes itself into the Lease (as a replica that saw it expire would).
    let spec = lease.spec.as_mut().unwrap();
    spec.holder_identity = Some("intruder".into());
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    spec.lease_duration_seconds = Some(60);
    leases
        .replace(&lease.name_any(), &PostParams::default(), &lease)
        .await
        .expect("the Lease is taken over");

    let status = a
        .wait_exit(RETRY_PERIOD * 2 + Duration::from_secs(2))
        .await
        .unwrap_or_else(|| panic!("the leader still runs after losing the Lease:\n{}", a.log()));
    assert_eq!(status.code(), Some(1));
    assert!(a.log().contains("lost the leader Lease"), "{}", a.log());
    let lease = leases.get(LEASE).await.unwrap();
    assert_eq!(
        holder(&lease),
        Some("intruder"),
        "the loser does not write the Lease again"
    );
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_by_sigterm_hands_the_lease_over_at_once() {
    let stack = Stack::start_without_operator(StackOptions::default()).await;
    let leases: Api<Lease> = stack.api();
    let mut a = replica(&stack, "replica-a");
    wait_for(&leases, LEASE, "replica-a leads", SHORT, |l| {
        holder(l) == Some("replica-a")
    })
    .await;
    let b = replica(&stack, "replica-b");
    assert!(b.wait_ready(SHORT).await.contains("standby"));

    let renewed_last = leases
        .get(LEASE)
        .await
        .unwrap()
        .spec
        .and_then(|spec| spec.renew_time)
        .expect("the leader renews its Lease");
    let status = a.terminate(SHORT).await;
    assert!(
        status.success(),
        "a graceful stop exits 0: {status:?}\n{}",
        a.log()
    );
    assert!(a.log().contains("released the leader Lease"), "{}", a.log());
    let taken = wait_for(&leases, LEASE, "replica-b takes over", SHORT, |l| {
        holder(l) == Some("replica-b")
    })
    .await;
    // By the Lease's own clock: replica-b acquired it before replica-a's last renewal would have
    // expired, so it did not wait for the expiry.
    let acquired = taken
        .spec
        .and_then(|spec| spec.acquire_time)
        .expect("the new holder records when it acquired the Lease");
    let expiry = renewed_last.0 + LEASE_DURATION;
    assert!(
        acquired.0 < expiry,
        "a released Lease is taken without waiting for it to expire: acquired at {:?}, the old one expired at {expiry:?}",
        acquired.0
    );
    stack.finish().await;
    drop(b);
}
