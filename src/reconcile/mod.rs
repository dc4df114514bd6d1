//! The reconcile every provider's kinds share: observe (credentials, portal snapshot) → plan
//! (pure) → act → report (status, Events). Each provider brings the glue of its kinds
//! (`providers::*`).

pub mod bindings;
pub mod conditions;
pub mod connection;
pub mod context;
pub mod credentials;
pub mod driver;
pub mod error;
pub mod events;
pub mod kind;
pub mod lifecycle;
pub mod managed;
pub mod plan;
pub mod provider_config;
pub mod recovery;
pub mod report;
pub mod shell;
pub mod snapshot;
pub mod tenancy;
pub mod tokens;

pub use bindings::Bindings;
pub use context::{Context, Failures, ResyncRequests, Timing};
pub use error::{Category, Error};
pub use events::EventRecorder;
pub use kind::{HasManagedStatus, PortalKind};
pub use report::write_status;
pub use shell::{Reconciled, error_policy, reconcile, unreadable};
pub use snapshot::Snapshots;
pub use tenancy::DefaultScope;
pub use tokens::{SecretWatch, TokenLocation, TokenSource, Wake};
