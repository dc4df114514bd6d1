//! Requests per second through the portal client against the in-process simulator, with the
//! limiter lifted: shows what the simulator and client can carry, so later benchmarks know the
//! operator, not them, is the bottleneck. Run: `cargo bench --bench portal_throughput`.

use std::time::Duration;

use htx_operator::http::{ApiToken, Budget, ClientSettings, CreateRetry, PortalClient};
use htx_operator::providers::htx::client::{self as htx, CreateDatabase, Htx};
use htx_operator::providers::htx::sim::{Scope, SimConfig, Simulator, TokenSpec};
use tokio::time::Instant;

const TOKEN: &str = "htx_bench";

#[tokio::main]
async fn main() {
    let sim = Simulator::start(
        SimConfig {
            tokens: vec![TokenSpec::new(TOKEN, Scope::Full)],
            rate_per_minute: 0,
            provision_delay: Duration::ZERO,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("simulator starts");
    let portal = htx::portal(&sim.url(), Budget::per_minute(u32::MAX / 2), false).unwrap();
    let core = PortalClient::new(ClientSettings::default()).unwrap();
    let client = move || Htx(core.session(&portal, ApiToken::new(TOKEN).unwrap()));

    println!("portal client + simulator on loopback, limiter lifted");
    let creates = 1_000;
    let make = client.clone();
    let seconds = run(16, creates, move |i| {
        let client = make();
        async move {
            let body = CreateDatabase {
                name: format!("bench-{i}"),
                engine: "postgresql".into(),
                sku: "db-s-1vcpu-1gb".into(),
            };
            client
                .create_database(&body, CreateRetry::WhenNotApplied)
                .await
                .map(drop)
        }
    })
    .await;
    report("create database", creates, seconds);

    for (label, calls) in [("get database", 5_000), ("list 1,000 databases", 500)] {
        let make = client.clone();
        let seconds = run(16, calls, move |i| {
            let client = make();
            async move {
                if label.starts_with("get") {
                    client
                        .get_database(&format!("bench-{}", i % creates))
                        .await
                        .map(drop)
                } else {
                    client.list_databases().await.map(drop)
                }
            }
        })
        .await;
        report(label, calls, seconds);
    }
    sim.shutdown().await;
}

/// Runs `calls` calls of `call` on `concurrency` tasks; returns the elapsed seconds.
async fn run<F, Fut>(concurrency: usize, calls: usize, call: F) -> f64
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), htx_operator::http::PortalError>> + Send,
{
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let call = call.clone();
            tokio::spawn(async move {
                for i in (worker..calls).step_by(concurrency) {
                    call(i).await.expect("call succeeds");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn report(label: &str, calls: usize, seconds: f64) {
    println!(
        "{label:<22} {calls:>6} calls in {seconds:>6.2} s = {:>8.0} req/s",
        calls as f64 / seconds
    );
}
