//! `htx-portal-sim`: the HTX portal simulator as a process, for demos, scripts and tests.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use htx_operator::duration::parse_duration;
use htx_operator::providers::htx::sim::{Quota, SimConfig, Simulator, TokenSpec};
use htx_operator::sim::process::{init_logging, stop_requested};

/// Simulates the HTX Cloud portal API (databases, backups, functions, proxies) with test hooks
/// under /_sim/.
#[derive(Debug, Parser)]
#[command(name = "htx-portal-sim", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8090", env = "HTX_SIM_LISTEN")]
    listen: SocketAddr,
    /// A token: TOKEN:SCOPE or TOKEN:SCOPE:CIDR[,CIDR...]; scope is full, read, databases,
    /// functions or proxies. Repeat for more tokens.
    #[arg(long = "token", value_name = "TOKEN:SCOPE[:CIDRS]")]
    tokens: Vec<String>,
    /// Requests per token per sliding minute (0 = unlimited).
    #[arg(long, default_value_t = 120)]
    rate_per_minute: u32,
    /// Time from create to online/active, e.g. 2s, 500ms, 1m.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    provision_delay: Duration,
    /// Time from backup start to completed.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    backup_delay: Duration,
    /// Plan quota for databases.
    #[arg(long)]
    quota_databases: Option<u32>,
    /// Plan quota for functions.
    #[arg(long)]
    quota_functions: Option<u32>,
    /// Plan quota for proxies.
    #[arg(long)]
    quota_proxies: Option<u32>,
    /// Keep the resources in this file across restarts.
    #[arg(long = "state", value_name = "FILE")]
    state: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    // Parsed here rather than by clap so a bad spec never echoes the token value.
    let mut tokens = Vec::new();
    for (i, spec) in args.tokens.iter().enumerate() {
        match spec.parse::<TokenSpec>() {
            Ok(t) => tokens.push(t),
            Err(e) => {
                eprintln!("htx-portal-sim: --token #{}: {e}", i + 1);
                return ExitCode::from(2);
            }
        }
    }
    if tokens.is_empty() {
        tracing::warn!("no --token given: every portal request will get 401");
    }
    let config = SimConfig {
        tokens,
        rate_per_minute: args.rate_per_minute,
        provision_delay: args.provision_delay,
        backup_delay: args.backup_delay,
        quota: Quota {
            databases: args.quota_databases,
            functions: args.quota_functions,
            proxies: args.quota_proxies,
        },
        state_file: args.state,
    };
    let sim = match Simulator::start(config, args.listen).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("htx-portal-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "htx-portal-sim listening on {}", sim.url());
    let _ = stdout.flush();
    stop_requested().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    ExitCode::SUCCESS
}
