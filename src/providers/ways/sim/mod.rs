//! A simulator faithful to the WaysCloud Databases API (`seeds/wayscloud-databases-api.txt`),
//! with test hooks under `/_sim/`. Start it in-process with [`Simulator::start`] or as the
//! `ways-portal-sim` binary. Serving, faults, counters and the rate window come from the
//! simulator kit, [`crate::sim`]; what the document leaves unsaid is in `assumed.rs`, each
//! point taking the least convenient reading.
//!
//! # Portal API (every route of the document, under `/v1`, key in `X-API-Key`)
//!
//! Databases: `POST|DELETE /v1/databases`, `GET /v1/databases/{db_type}`,
//! `PATCH|DELETE /v1/databases/{db_type}/{db_name}` (`?username=` optional), `…/info`,
//! `…/metrics`, `POST …/restart`, `GET /v1/databases/engines`, `GET /v1/databases/history`,
//! `GET /v1/quota`. Access: `GET …/credentials` (no password), `POST …/credentials/rotate`,
//! `GET|POST …/firewall`, `DELETE …/firewall/{rule_id}`. Backups: `GET|PUT …/backup-policy`,
//! `GET|POST …/snapshots`, `DELETE …/snapshots/{snapshot_id}`, `POST …/restore`.
//!
//! Keys carry a customer id and permissions (`database:create|read|update|delete`). Checks run
//! in this order: injected faults, 401 missing or unknown key, 429 with `Retry-After` (sliding
//! 60 s window per key; refused requests use no budget), 403 permission, 422 path and body
//! (pydantic's `{"detail": [{"loc", "msg", "type", "input"}]}`), 404 unknown database, 403
//! another customer's, then the route: 403 quota, 409 restore target taken, 404 unknown rule or
//! snapshot, 400 empty PATCH or foreign `username`. Other errors are `{"detail": "text"}`.
//!
//! Names are `cust_<customer>_<pg|mdb>_<requested_name>` (generated without one). Creates are
//! synchronous; one for an existing name answers 200 `idempotent: true` and no new database. A
//! password is shown only by create and rotate; rotate replaces it at once. Snapshot ids are
//! `snap_YYYYMMDD_HHMMSS_<hex8>`, listed newest first. A restore in place raises the
//! database's data generation by one; one to `target_db_name` makes a new database (generation
//! 1, its password shown to nobody).
//!
//! # Test hooks (`/_sim/`; no key, no rate limit, not counted)
//!
//! | hook | body / answer |
//! |---|---|
//! | `GET /_sim/stats` | [`Stats`]: `{"requests":[{"method","route","status","count"}],"effective":{"create":n,"rotate":n,…},"create_attempts":{"db_type/db_name":n},"fired":{"call:fault":n}}`; `route` is the template, status 0 = no answer |
//! | `POST /_sim/stats/reset` | `{}` |
//! | `GET/POST/DELETE /_sim/faults` | [`Faults`]: `{"error_rate","latency_ms","drop_rate","seed"}` |
//! | `POST /_sim/faults/arm` | [`Armed`]: `{"on":"create"\|"delete"\|"patch"\|"rotate"\|"restart"\|"firewall_add"\|"firewall_delete"\|"policy_put"\|"snapshot"\|"snapshot_delete"\|"restore","fault":"lose_answer"\|"server_error"\|"stall","count":n}`: the next successful calls, after they took effect |
//! | `POST /_sim/keys` | [`KeySpec`]: `{"key","customer","permissions":["database:read",…]}` → 201 (an existing key gets the new customer and permissions) |
//! | `GET/POST /_sim/rate` | `{"per_minute":n}` (0 = unlimited) |
//! | `GET/POST /_sim/quota` | `{"limit":n}`: databases per customer |
//! | `GET /_sim/databases` | every [`DatabaseState`] |
//! | `POST /_sim/databases` | `{"customer","db_type","requested_name"}` → 201 [`DatabaseState`] |
//! | `GET/DELETE /_sim/databases/{db_type}/{db_name}` | [`DatabaseState`] (password, generation …) / `{}` |
//! | `POST …/connection-limit` | `{"connection_limit":n}` |
//! | `POST …/firewall`, `DELETE …/firewall/{rule_id}` | `{"ip_address","description"}` → 201 `{"rule_id"}` / `{}` |
//! | `PUT …/backup-policy` | the portal's policy body |
//! | `POST …/rotate` | → `{"password"}` |
//! | `POST …/policy-snapshot` | → 201 `{"snapshot_id"}`: a snapshot as the backup policy takes it |
//!
//! (`…` is `/_sim/databases/{db_type}/{db_name}`.) Out-of-band changes are made as through the
//! web UI: no quota, no counters.

mod access;
mod account;
mod assumed;
mod auth;
mod backups;
mod bodies;
mod config;
mod databases;
mod error;
mod faults;
mod gate;
mod handle;
mod hooks;
mod model;
mod request;
mod routes;
mod server;
mod stats;
mod store;
mod validate;
mod views;

pub use config::{KeySpec, ParseError, Permission, SimConfig};
pub use error::SimError;
pub use faults::{AfterEffect, Armed, Call, Faults};
pub use handle::SimHandle;
pub use model::{DbType, Frequency, Policy};
pub use server::{RunningSim, Simulator};
pub use stats::Stats;
pub use views::{DatabaseState, RuleState, SnapshotState};
