//! The HTTP core every provider's client is built on: the limiter per credential (budget, burst,
//! 429 pause, writes first), retries, timeouts, the credential kept out of every text, no
//! redirects, a cap on answers, and how the credential is presented. Each provider brings its
//! endpoints and the meaning of its answers (a [`Dialect`]).

mod client;
mod endpoint;
mod error;
mod limiter;
mod redact;
mod token;

pub use client::{
    Backoff, ClientSettings, CreateRetry, DEFAULT_MAX_BODY_BYTES, Portal, PortalClient, Session,
    SetupError,
};
pub use endpoint::{Access, Auth, Dialect, Endpoint, Verb, percent_encode, plain_error_text};
pub use error::{DEFAULT_RETRY_AFTER, PortalError};
pub use limiter::{Budget, Limiter, Priority};
pub use redact::{MAX_TEXT, REDACTED, scrub};
pub use token::{ApiToken, InvalidToken};
