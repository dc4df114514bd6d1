use clap::{Parser, Subcommand};

/// Keeps HTX Cloud services in step with Kubernetes objects.
#[derive(Parser)]
#[command(name = "htx-operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CustomResourceDefinition as YAML (what `crds/` holds).
    Crds,
    /// Print the version.
    Version,
}

fn main() {
    match Cli::parse().command {
        Command::Crds => print!("{}", htx_operator::api::crds_yaml()),
        Command::Version => println!("htx-operator {}", env!("CARGO_PKG_VERSION")),
    }
}
