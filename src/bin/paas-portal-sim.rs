//! `paas-portal-sim`: the PaaS API simulator as a process, for demos, scripts and tests.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use htx_operator::duration::parse_duration;
use htx_operator::providers::paas::sim::{
    DEFAULT_RATE_PER_MINUTE, KeySpec, Outcome, SimConfig, Simulator,
};
use htx_operator::sim::process::{init_logging, stop_requested};

/// Simulates the PaaS public API (projects, web services, deployments, env, secrets,
/// databases, redis, object storage) with test hooks under /_sim/.
#[derive(Debug, Parser)]
#[command(name = "paas-portal-sim", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8092", env = "PAAS_SIM_LISTEN")]
    listen: SocketAddr,
    /// An API key: KEY:ACCOUNT or KEY:ACCOUNT:SCOPE[,SCOPE...], KEY starting with ak_, SCOPE
    /// like databases:read or web-services:write. Repeat for more keys.
    #[arg(long = "key", value_name = "KEY:ACCOUNT[:SCOPES]")]
    keys: Vec<String>,
    /// Requests per key per sliding minute (0 = unlimited).
    #[arg(long, default_value_t = DEFAULT_RATE_PER_MINUTE)]
    rate_per_minute: u32,
    /// Time to provision, stop, start, update or delete, e.g. 2s, 500ms.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    provision_delay: Duration,
    /// Time of each deployment stage (queued, building, deploying).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    deploy_stage_delay: Duration,
    /// Buckets per account.
    #[arg(long, default_value_t = 10)]
    bucket_limit: u32,
    /// Deployments fail instead of going live.
    #[arg(long)]
    deployments_fail: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    // Parsed here rather than by clap so a bad spec never echoes the key.
    let mut keys = Vec::new();
    for (i, spec) in args.keys.iter().enumerate() {
        match spec.parse::<KeySpec>() {
            Ok(k) => keys.push(k),
            Err(e) => {
                eprintln!("paas-portal-sim: --key #{}: {e}", i + 1);
                return ExitCode::from(2);
            }
        }
    }
    if keys.is_empty() {
        tracing::warn!("no --key given: every API request will get 401");
    }
    let config = SimConfig {
        keys,
        rate_per_minute: args.rate_per_minute,
        provision_delay: args.provision_delay,
        deploy_stage_delay: args.deploy_stage_delay,
        bucket_limit: args.bucket_limit,
        deploy_outcome: if args.deployments_fail {
            Outcome::Failed
        } else {
            Outcome::Live
        },
    };
    let sim = match Simulator::start(config, args.listen).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("paas-portal-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "paas-portal-sim listening on {}", sim.url());
    let _ = stdout.flush();
    stop_requested().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    ExitCode::SUCCESS
}
