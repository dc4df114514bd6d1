//! Reconcilers: observe (token, portal snapshot) → plan (pure) → act → report (status, Events).

mod conditions;
mod connection;
mod context;
pub mod database;
mod error;
mod managed;
mod plan;
mod report;
mod snapshot;
mod tokens;

pub use context::{Context, Failures, ResyncRequests, Timing};
pub use error::{Category, Error};
pub use snapshot::Snapshots;
pub use tokens::{SecretWatch, TokenLocation, TokenSource};
