//! `ways-portal-sim`: the WaysCloud Databases API simulator as a process, for demos, scripts and
//! tests.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use htx_operator::providers::ways::sim::{KeySpec, SimConfig, Simulator};
use htx_operator::sim::process::{init_logging, stop_requested};

/// Simulates the WaysCloud Databases API (PostgreSQL and MariaDB databases, firewall rules,
/// backup policies, snapshots) with test hooks under /_sim/.
#[derive(Debug, Parser)]
#[command(name = "ways-portal-sim", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8091", env = "WAYS_SIM_LISTEN")]
    listen: SocketAddr,
    /// An API key: KEY:CUSTOMER:PERMS, PERMS `all` or a comma-separated list of
    /// database:create, database:read, database:update, database:delete. Repeat for more keys.
    #[arg(long = "key", value_name = "KEY:CUSTOMER:PERMS")]
    keys: Vec<String>,
    /// Requests per key per sliding minute (0 = unlimited).
    #[arg(long, default_value_t = SimConfig::default().rate_per_minute)]
    rate_per_minute: u32,
    /// The most databases one customer may have.
    #[arg(long, default_value_t = SimConfig::default().quota)]
    quota: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    // Parsed here rather than by clap so a bad spec never echoes the key.
    let mut keys = Vec::new();
    for (i, spec) in args.keys.iter().enumerate() {
        match spec.parse::<KeySpec>() {
            Ok(key) => keys.push(key),
            Err(e) => {
                eprintln!("ways-portal-sim: --key #{}: {e}", i + 1);
                return ExitCode::from(2);
            }
        }
    }
    if keys.is_empty() {
        tracing::warn!("no --key given: every portal request will get 401");
    }
    let config = SimConfig {
        keys,
        rate_per_minute: args.rate_per_minute,
        quota: args.quota,
    };
    let sim = match Simulator::start(config, args.listen).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("ways-portal-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "ways-portal-sim listening on {}", sim.url());
    let _ = stdout.flush();
    stop_requested().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    ExitCode::SUCCESS
}
