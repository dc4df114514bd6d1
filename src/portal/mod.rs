//! The HTX portal API: typed client, errors by meaning, one limiter per token.

mod client;
mod error;
mod limiter;
mod model;
mod redact;
mod routes;
mod token;

pub use client::{
    Backoff, CreateRetry, DEFAULT_MAX_BODY_BYTES, PortalClient, PortalConfig, SetupError,
    TokenClient,
};
pub use error::{DEFAULT_RETRY_AFTER, PortalError};
pub use limiter::{Budget, Limiter, Priority};
pub use model::{
    Backup, CreateDatabase, CreateProduct, Database, Function, Lifecycle, Proxy, backup_lifecycle,
};
pub use redact::{MAX_TEXT, REDACTED, scrub};
pub use routes::{Access, Route, percent_encode};
pub use token::{ApiToken, InvalidToken};
