use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use htx_operator::controller::{self, RunConfig};
use htx_operator::duration::parse_duration;
use htx_operator::portal::Budget;
use htx_operator::reconcile::{Timing, TokenLocation};
use htx_operator::telemetry;

/// Keeps HTX Cloud services in step with Kubernetes objects.
#[derive(Parser)]
#[command(name = "htx-operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator (in-cluster config, or KUBECONFIG).
    Run(RunArgs),
    /// Print every CustomResourceDefinition as YAML, or write one file each into `--dir`.
    Crds {
        /// Write `<name>.yaml` files into this directory instead of printing.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The portal's base URL.
    #[arg(
        long,
        env = "HTX_PORTAL_URL",
        default_value = "https://portal.vinacis.com"
    )]
    portal_url: String,
    /// The default token Secret, NAMESPACE/NAME, holding the token under key `token`.
    #[arg(long, env = "HTX_TOKEN_SECRET", value_parser = TokenLocation::parse)]
    token_secret: TokenLocation,
    /// How often every object is compared with the portal (one list call per product and token).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    resync: Duration,
    /// How often objects in progress (creating, failing) look again.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    poll: Duration,
    /// Portal requests per minute per token (the portal allows 120).
    #[arg(long, default_value_t = Budget::DEFAULT_PER_MINUTE)]
    rate_per_minute: u32,
    /// Where `/healthz` and `/readyz` are served.
    #[arg(long, default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
    /// Watch only these namespaces (repeatable); all namespaces when absent.
    #[arg(long = "namespace")]
    namespaces: Vec<String>,
    /// Reconciles running at once per kind.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Crds { dir: None } => print!("{}", htx_operator::api::crds_yaml()),
        Command::Crds { dir: Some(dir) } => {
            for (name, yaml) in htx_operator::api::crd_files() {
                if let Err(error) = std::fs::write(dir.join(&name), yaml) {
                    eprintln!(
                        "htx-operator: cannot write {}: {error}",
                        dir.join(name).display()
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
        Command::Version => println!("htx-operator {}", env!("CARGO_PKG_VERSION")),
        Command::Run(args) => {
            telemetry::init_logging();
            let health = telemetry::serve_health(args.metrics_addr);
            let config = RunConfig {
                portal_url: args.portal_url,
                default_token: args.token_secret,
                timing: Timing {
                    resync: args.resync,
                    poll: args.poll,
                },
                rate_per_minute: args.rate_per_minute,
                namespaces: args.namespaces,
                concurrency: args.concurrency,
            };
            let result = tokio::select! {
                result = controller::run(config) => result.map_err(|e| e.to_string()),
                result = health => result.map_err(|e| format!("health endpoint: {e}")),
            };
            if let Err(error) = result {
                tracing::error!(%error, "htx-operator failed");
                eprintln!("htx-operator: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
