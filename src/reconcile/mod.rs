//! Reconcilers: observe (token, portal snapshot) → plan (pure) → act → report (status, Events).

pub mod backup;
mod backup_plan;
mod conditions;
mod connection;
mod context;
mod database;
pub mod driver;
mod error;
mod events;
mod function;
mod kind;
mod managed;
mod plan;
mod proxy;
mod report;
pub mod schedule;
mod schedule_plan;
mod shell;
mod snapshot;
mod tokens;

pub use context::{Context, Failures, ResyncRequests, Timing};
pub use error::{Category, Error};
pub use events::EventRecorder;
pub use kind::{HasManagedStatus, PortalKind};
pub use report::write_status;
pub use shell::{Reconciled, error_policy, reconcile};
pub use snapshot::Snapshots;
pub use tokens::{SecretWatch, TokenLocation, TokenSource, Wake};
