//! A portal simulator faithful to the documented HTX API (`seeds/htx-api-guide.txt`,
//! `seeds/htx-openapi.json`), with test hooks under `/_sim/`. Start it in-process with
//! [`Simulator::start`] or as the `htx-portal-sim` binary. What is not HTX's own (serving,
//! fault machinery, counters, rate window, clock) comes from the simulator kit, [`crate::sim`].
//!
//! # Portal API
//!
//! - `GET /api/openapi`: the spec (no token needed).
//! - `GET|POST /api/portal/databases`, `GET|DELETE /api/portal/databases/{name}`,
//!   `GET|POST /api/portal/databases/{name}/backups`.
//! - `GET|POST /api/portal/functions`, `DELETE /api/portal/functions/{name}`,
//!   `GET|POST /api/portal/proxies`, `DELETE /api/portal/proxies/{name}`. The writes on functions
//!   and proxies are an ASSUMPTION (DESIGN §1), kept in [`assumed`](self::assumed).
//!
//! Checks run in this order: injected faults, 401 (missing, unknown, revoked or rotated token),
//! 403 client IP (the TCP peer, never a header) not in the token's allowlist, 429 with
//! `Retry-After` (sliding 60 s window per token; rejected requests use no budget), 403 scope
//! (`read` writes nothing; `databases`/`functions`/`proxies` write only their product, backups
//! belong to databases), then the route: 422 invalid body, 402 quota, 409 duplicate name,
//! 404 unknown name, 409 backup of a database that is not `online`. Errors are
//! `{"error": "…"}`; creates answer 201 with the object, deletes 200 `{}`.
//!
//! # The least convenient reading
//!
//! The documents say nothing of how consistent lists are, whether deletes are synchronous, or what
//! an error text may repeat. Faults (off by default) make the simulator take the worst plausible
//! answer, in one place each: lists that lag behind writes or leave items out (`list_lag_ms`,
//! `partial_list_rate`; looking a database up by name stays current), deletes that are accepted
//! and carried out later, or abandoned (`async_deletes`, `abandon_delete_rate`), error texts that
//! repeat the presented token (`echo_token`), redirects (`redirect_to`), and answers lost after
//! the portal acted (`drop_rate`, and deterministically `faults/arm`).
//!
//! Statuses: databases `creating` → `online`, functions `deploying` → `active`, proxies
//! `provisioning` → `active` after the provision delay (computed from timestamps); backups
//! `running` → `completed` (with `completed_at`, `size_bytes`) after the backup delay.
//! Connection details (database `connection`, function `url`, proxy credentials) appear once
//! ready. Deleting a database deletes its backups.
//!
//! Names: 3–63 characters of lowercase letters, digits and `-`, starting with a letter and not
//! ending with `-`. SKUs: lowercase letter/digit parts joined by single `-`, at least two parts,
//! 3–64 characters. See [`rules`](self::rules).
//!
//! # Test hooks (`/_sim/`; no auth, no rate limit, not counted)
//!
//! | hook | body / answer |
//! |---|---|
//! | `GET /_sim/stats` | `{"requests":[{"method","route","status","count"}],"creates":{databases,functions,proxies,backups},"deletes":{…},"create_attempts":{"product/name":n},"fired":{"call:fault":n},"abandoned_deletes":n}`; `route` is the template, status 0 = dropped |
//! | `POST /_sim/stats/reset` | `{}` |
//! | `GET/POST/DELETE /_sim/faults` | [`Faults`]: `{"error_rate","latency_ms","drop_rate","drop_before_effect","create_status","delete_status","seed","echo_token","redirect_to","list_lag_ms","partial_list_rate","async_deletes","abandon_delete_rate"}` |
//! | `POST /_sim/faults/arm` | [`Armed`]: `{"on":"create"\|"delete","fault":"lose_answer"\|"server_error"\|"stall","count":n}`: the next calls, after they took effect |
//! | `POST /_sim/tokens` | `{"token","scope","allow":[…]}` → 201 |
//! | `POST /_sim/tokens/{token}/revoke` | `{}` |
//! | `POST /_sim/tokens/{token}/rotate` | `{"new_token"}` |
//! | `POST /_sim/{databases,functions,proxies}` | create body + optional `"status"` → 201 object (out of band: no quota, no counters) |
//! | `DELETE /_sim/{product}/{name}` | `{}` |
//! | `POST /_sim/{product}/{name}/status` | `{"status"}` → object |
//! | `POST /_sim/hold-creates` | `{"enabled":bool}` → `{"enabled","held"}` |
//! | `POST /_sim/release-creates` | → `{"released":n}` |
//! | `GET /_sim/held` | → `{"held":n}` |
//! | `GET/POST /_sim/quota` | `{"databases":n\|null,…}` (merged: absent keys unchanged) |
//! | `GET/POST /_sim/rate` | `{"per_minute":n}` (0 = unlimited) |
//! | `GET /_sim/state` | everything: resources, backups, quota, rate |

mod assumed;
mod auth;
mod config;
mod error;
mod faults;
mod gate;
mod handle;
mod hooks;
mod model;
mod persist;
mod routes;
mod rules;
mod server;
mod stats;
mod store;

pub use config::{Cidr, ParseError, Quota, Scope, SimConfig, TokenSpec};
pub use error::SimError;
pub use faults::{AfterEffect, Armed, Call, Faults};
pub use handle::SimHandle;
pub use model::{Kind, Product};
pub use server::{RunningSim, Simulator, start};
pub use stats::{KindCounts, RequestCount, Stats, UNMATCHED_ROUTE};
