use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use htx_operator::api;
use htx_operator::api::Provider;
use htx_operator::controller::{self, RunConfig};
use htx_operator::duration::parse_duration;
use htx_operator::http::{Budget, ClientSettings, Portal};
use htx_operator::kube_client;
use htx_operator::leader::{self, Elector, LeaseConfig};
use htx_operator::providers::{self, htx};
use htx_operator::reconcile::DefaultScope;
use htx_operator::reconcile::credentials::{Defaults, ProviderDefault};
use htx_operator::reconcile::{Timing, TokenLocation};
use htx_operator::shutdown::Shutdown;
use htx_operator::telemetry::{self, Role};

/// jemalloc returns memory to the system after bursts: glibc's malloc kept most of what a wave of
/// 10,000 creations used resident (see BENCHMARKS.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings: one arena (the operator has a handful of threads; more arenas only spread
/// the heap thinner), and freed pages returned to the system at once (no measurable CPU cost, see
/// BENCHMARKS.md).
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &u8 = &b"narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0\0"[0];

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
    Run(Box<RunArgs>),
    /// Print every CustomResourceDefinition as YAML, or write one file each into `--dir`.
    Crds {
        /// Write `<name>.yaml` files into this directory instead of printing.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Leave out the validation rules (x-kubernetes-validations), for Kubernetes before 1.25:
        /// the operator checks the same itself.
        #[arg(long)]
        without_rules: bool,
    },
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The HTX portal's base URL.
    #[arg(long, env = "HTX_PORTAL_URL", default_value = htx::client::DEFAULT_URL)]
    portal_url: String,
    /// The default HTX token Secret, NAMESPACE/NAME, holding the token under key `token`.
    /// Without it, HTX objects name their credentials (tokenSecretRef, providerConfigRef).
    #[arg(long, env = "HTX_TOKEN_SECRET", value_parser = TokenLocation::parse)]
    token_secret: Option<TokenLocation>,
    /// Another provider's defaults (repeatable): `PROVIDER:NAMESPACE/SECRET[,key=KEY][,url=URL]
    /// [,rate=N]`, e.g. `WaysCloud:htx-system/ways-key,key=apiKey`. A provider without one
    /// serves only objects that name a ProviderConfig.
    #[arg(long = "provider-default", value_parser = ProviderDefaultArg::parse)]
    provider_defaults: Vec<ProviderDefaultArg>,
    /// A namespace whose objects may use the default token (repeatable). With neither this nor
    /// --default-token-selector, every namespace may; elsewhere objects name a token Secret of
    /// their own namespace (NoCredentials otherwise).
    #[arg(long = "default-token-namespace")]
    default_token_namespaces: Vec<String>,
    /// A label selector of the namespaces whose objects may use the default token (e.g.
    /// `htx.vinacis.com/default-token=allowed`).
    #[arg(long)]
    default_token_selector: Option<String>,
    /// How often every object is compared with the portal (one list call per product and token).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    resync: Duration,
    /// How often objects in progress (creating, failing) look again.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    poll: Duration,
    /// How long the portal's lists may take to show what was just created. A backup whose
    /// request's answer was lost is looked for that long, then reported OutcomeUnknown.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    list_lag: Duration,
    /// How often the reads beyond the lists are repeated for an object whose spec did not change
    /// (a WaysDatabase's settings, firewall and backup policy: up to three calls each).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    deep_resync: Duration,
    /// Portal requests per minute per token (the portal allows 120).
    #[arg(long, default_value_t = Budget::DEFAULT_PER_MINUTE)]
    rate_per_minute: u32,
    /// The longest one portal request may take, connection included.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    portal_timeout: Duration,
    /// Accept a plain `http://` portal URL of another machine: the token then crosses the network
    /// in clear. Without it only `https://` and loopback `http://` are accepted.
    #[arg(long)]
    allow_insecure_http: bool,
    /// Where `/healthz`, `/readyz` and `/metrics` are served (port 0: any free port, logged).
    #[arg(long, default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
    /// Watch only these namespaces (repeatable); all namespaces when absent.
    #[arg(long = "namespace")]
    namespaces: Vec<String>,
    /// Reconciles running at once per kind.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    #[command(flatten)]
    election: ElectionArgs,
}

/// Leader election: of several replicas, only the holder of a Lease runs the controllers.
#[derive(clap::Args)]
struct ElectionArgs {
    /// Run the controllers only while holding the Lease `--lease-name` (needed with replicas > 1).
    #[arg(long)]
    leader_election: bool,
    /// The Lease's name.
    #[arg(long, default_value = "htx-operator-leader")]
    lease_name: String,
    /// The Lease's namespace (the operator's own; the Deployment sets POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// How long a Lease lasts unrenewed: a standby takes over within this plus up to two retry
    /// periods (duration / 7.5 each) after the leader died; the leader renews every retry period and gives up,
    /// exiting, when it has not renewed for two thirds of it.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    lease_duration: Duration,
    /// This replica's name in the Lease; default: POD_NAME, else the host name and a random suffix.
    #[arg(long)]
    lease_identity: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Crds { dir, without_rules } => return write_crds(dir.as_deref(), without_rules),
        Command::Version => println!("htx-operator {}", env!("CARGO_PKG_VERSION")),
        Command::Run(args) => {
            telemetry::init_logging();
            return run(*args).await;
        }
    }
    ExitCode::SUCCESS
}

/// `htx-operator crds`: the CRDs on stdout, or one file each in `dir`.
fn write_crds(dir: Option<&Path>, without_rules: bool) -> ExitCode {
    let crds = if without_rules {
        api::crds_without_rules()
    } else {
        api::crds()
    };
    let Some(dir) = dir else {
        print!("{}", api::crds_yaml(&crds));
        return ExitCode::SUCCESS;
    };
    for (name, yaml) in api::crd_files(&crds) {
        let path = dir.join(name);
        if let Err(error) = std::fs::write(&path, yaml) {
            eprintln!("htx-operator: cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

async fn run(args: RunArgs) -> ExitCode {
    let fail = |error: String| {
        tracing::error!(%error, "htx-operator failed");
        eprintln!("htx-operator: {error}");
        ExitCode::FAILURE
    };
    let shutdown = match Shutdown::listen() {
        Ok(shutdown) => shutdown,
        Err(error) => return fail(format!("cannot listen for SIGTERM and SIGINT: {error}")),
    };
    let defaults = match defaults(&args) {
        Ok(defaults) => defaults,
        Err(error) => return fail(error),
    };
    let listener = match telemetry::bind(args.metrics_addr).await {
        Ok(listener) => listener,
        Err(error) => return fail(format!("cannot serve on {}: {error}", args.metrics_addr)),
    };
    let mut health = tokio::spawn(telemetry::serve(listener));
    let identity = args
        .election
        .lease_identity
        .clone()
        .unwrap_or_else(leader::default_identity);
    let leader = if args.election.leader_election {
        let client = match kube_client::connect().await {
            Ok(client) => client,
            Err(error) => return fail(format!("cannot connect to Kubernetes: {error}")),
        };
        let election = &args.election;
        let lease = LeaseConfig::new(
            &election.lease_namespace,
            &election.lease_name,
            identity.clone(),
            election.lease_duration,
        );
        tracing::info!(lease = %lease.name, namespace = %lease.namespace, identity = %lease.identity, "waiting to lead");
        tokio::select! {
            leader = Elector::new(client, lease).acquire() => Some(leader),
            () = shutdown.requested() => return ExitCode::SUCCESS,
            result = &mut health => return fail(health_stopped(result)),
        }
    } else {
        telemetry::health().set_role(Role::Single);
        None
    };
    let config = RunConfig {
        client: ClientSettings {
            timeout: args.portal_timeout,
            ..ClientSettings::default()
        },
        defaults,
        default_scope: DefaultScope::new(
            args.default_token_namespaces,
            args.default_token_selector,
        ),
        timing: Timing {
            resync: args.resync,
            poll: args.poll,
            list_lag: args.list_lag,
            deep_resync: args.deep_resync,
        },
        namespaces: args.namespaces,
        concurrency: args.concurrency,
        instance: identity,
        shutdown,
    };
    let mut leader = leader;
    let keep = async {
        match leader.as_mut() {
            Some(leader) => leader.keep().await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        result = controller::run(config) => result.map_err(|e| e.to_string()),
        result = &mut health => Err(health_stopped(result)),
        lost = keep => {
            // Another replica may lead from now on: no further write may leave this process,
            // so it ends here, in-flight work and all. Kubernetes restarts it as a standby.
            tracing::error!(%lost, "lost the leader Lease: exiting");
            eprintln!("htx-operator: lost the leader Lease ({lost}): exiting");
            std::process::exit(1);
        }
    };
    if let Err(error) = result {
        return fail(error);
    }
    if let Some(leader) = leader {
        leader.release().await;
    }
    ExitCode::SUCCESS
}

/// Each provider's portal and default credentials, from the command line.
fn defaults(args: &RunArgs) -> Result<Defaults, String> {
    let mut by_provider = HashMap::new();
    for module in providers::ALL {
        let provider = module.provider();
        let given = args
            .provider_defaults
            .iter()
            .find(|given| given.provider == provider);
        let (url, rate, secret) = match given {
            Some(given) => (
                given
                    .url
                    .clone()
                    .unwrap_or_else(|| module.default_url().to_owned()),
                given.rate.unwrap_or(module.default_rate_per_minute()),
                Some(given.secret.clone()),
            ),
            // HTX's own flags, from before there were other providers.
            None if provider == Provider::Htx => (
                args.portal_url.clone(),
                args.rate_per_minute,
                args.token_secret.clone(),
            ),
            None => (
                module.default_url().to_owned(),
                module.default_rate_per_minute(),
                None,
            ),
        };
        let portal = Portal::new(
            &url,
            Budget::per_minute(rate),
            module.dialect(),
            args.allow_insecure_http,
        )
        .map_err(|error| format!("{provider}: {error}"))?;
        by_provider.insert(provider, ProviderDefault { portal, secret });
    }
    Ok(Defaults::new(by_provider, args.allow_insecure_http))
}

/// `--provider-default PROVIDER:NAMESPACE/SECRET[,key=KEY][,url=URL][,rate=N]`.
#[derive(Debug, Clone)]
struct ProviderDefaultArg {
    provider: Provider,
    secret: TokenLocation,
    url: Option<String>,
    rate: Option<u32>,
}

impl ProviderDefaultArg {
    fn parse(text: &str) -> Result<Self, String> {
        let (provider, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("expected PROVIDER:NAMESPACE/SECRET[,…], got '{text}'"))?;
        let provider = providers::ALL
            .iter()
            .map(|module| module.provider())
            .find(|known| known.as_str().eq_ignore_ascii_case(provider.trim()))
            .ok_or_else(|| format!("unknown provider '{provider}'"))?;
        let mut parts = rest.split(',');
        let mut secret = TokenLocation::parse(parts.next().unwrap_or_default())?;
        let (mut url, mut rate) = (None, None);
        for part in parts {
            match part.split_once('=') {
                Some(("key", key)) => secret.key = key.to_owned(),
                Some(("url", value)) => url = Some(value.to_owned()),
                Some(("rate", value)) => {
                    rate = Some(
                        value
                            .parse()
                            .map_err(|_| format!("rate '{value}' is not a number"))?,
                    )
                }
                _ => {
                    return Err(format!(
                        "unknown part '{part}': expected key=, url= or rate="
                    ));
                }
            }
        }
        Ok(Self {
            provider,
            secret,
            url,
            rate,
        })
    }
}

fn health_stopped(result: Result<std::io::Result<()>, tokio::task::JoinError>) -> String {
    match result {
        Ok(Ok(())) => "the health endpoint stopped".to_owned(),
        Ok(Err(error)) => format!("health endpoint: {error}"),
        Err(error) => format!("health endpoint: {error}"),
    }
}
