//! The simulator kit: what every portal simulator shares. A provider's simulator (under
//! `providers/<name>/sim/`) brings its routes, model, store, auth and error shape, and builds on:
//!
//! - [`serve`]: the accept loop (a fault can close a connection without an answer; clean
//!   shutdown), [`Serving`](serve::Serving) with its address and URL;
//! - [`answer`]: JSON answers and what faults make of them, counted as they go;
//! - [`faults`]: random faults drawn per request from the provider's settings, and armed faults
//!   on the next calls of one kind, after the portal acted;
//! - [`stats`]: request counters by method, route template and status, and named tallies;
//! - [`bearer`]: the credential of an `Authorization: Bearer …` header;
//! - [`ratelimit`]: the sliding-minute window per credential and its `Retry-After`;
//! - [`hold`]: answers held back until a test releases them;
//! - [`hook`]: the body of a test hook's request;
//! - [`clock`] and [`ids`]: wall-clock times in RFC 3339, UUIDs, secrets and hex tags;
//! - [`process`]: logging and stopping for the simulators' binaries.

pub mod answer;
pub mod bearer;
pub mod clock;
pub mod faults;
pub mod hold;
pub mod hook;
pub mod ids;
pub mod process;
pub mod ratelimit;
pub mod serve;
pub mod stats;
