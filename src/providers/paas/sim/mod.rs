//! A simulator of the PaaS public API (`seeds/paas-public-api.txt`): projects and their
//! secrets, web services with deployments, env vars and secret bindings, databases, redis and
//! object storage, with test hooks under `/_sim/`. Start it in-process with
//! [`Simulator::start`] or as the `paas-portal-sim` binary. Email and static sites are not
//! simulated (the document gives them no declarative use here).
//!
//! # API (every route needs `Authorization: Bearer ak_…`)
//!
//! - Projects: `GET|POST /api/projects`, `GET /api/projects/{project_id}` (no update, no
//!   delete); secrets: `GET|POST …/secrets`, `PUT …/secrets/bulk`,
//!   `PATCH|DELETE …/secrets/{secret_id}`, `GET …/secrets/{secret_id}/reveal`.
//! - Web services: `GET|POST /api/web-services`, `GET|PATCH|DELETE …/{web_service_id}`,
//!   `POST …/start|stop|restart`, `GET …/logs?tail&since`; deployments
//!   `GET|POST …/deployments` (`?limit&offset`), `GET …/deployments/{deployment_id}`,
//!   `POST …/cancel|rollback`; env `GET|POST …/env`, `GET …/env/reveal-all`, `PUT …/env/bulk`,
//!   `PATCH|DELETE …/env/{var_id}`, `GET …/env/{var_id}/reveal`; bindings
//!   `GET|POST …/secret-bindings`, `GET …/secret-bindings/resolved`, `PUT …/secret-bindings/bulk`,
//!   `DELETE …/secret-bindings/{binding_id}`.
//! - `GET|POST /api/databases`, `GET|PATCH|DELETE …/{database_id}`, `POST …/start|stop`,
//!   `GET …/status`; the same under `/api/redis`.
//! - `GET /api/storage/tenant`, `GET|POST /api/storage/buckets`,
//!   `PATCH|DELETE …/buckets/{bucket_id}`, `POST …/buckets/{bucket_id}/presign`,
//!   `GET|POST /api/storage/keys`, `DELETE …/keys/{key_id}`.
//!
//! Checks run in this order: injected faults (503, latency, dropped connection), 401 (missing,
//! unknown or revoked key), 429 with `Retry-After` (sliding minute per key; refused requests
//! use no budget), 403 (the key's scopes), then the route: 400 for a bad body, parameter or
//! state, 404 for what is not there or not the account's. Errors are `{"detail": "…"}`.
//! Everything the document leaves unsaid is decided in [`assumed`](self::assumed), each
//! decision named: read it before writing a client.
//!
//! Ids are UUIDs; names are never unique. Life cycles are computed from timestamps:
//! databases and redis `provisioning` → `running` (stop, start, update and delete likewise take
//! the provision delay), buckets `provisioning` → `active`, deployments `queued` → `building` →
//! `deploying` → `live` | `failed` (one stage delay each).
//!
//! # Test hooks (`/_sim/`; no auth, no rate limit, not counted)
//!
//! | hook | body / answer |
//! |---|---|
//! | `GET /_sim/stats` | [`Stats`]: requests by method, route template and status (0 = dropped); `creates`, `updates`, `deletes`, `actions` by kind; `deployments`, `rollbacks`, `env_updates`; `create_attempts` by `kind/name`; `fired` by `call:fault` |
//! | `POST /_sim/stats/reset` | `{}` |
//! | `GET/POST/DELETE /_sim/faults` | [`Faults`]: `{"error_rate","latency_ms","drop_rate","drop_before_effect","seed"}` |
//! | `POST /_sim/faults/arm` | [`Armed`]: `{"on": <call>, "fault": "lose_answer"\|"server_error"\|"stall", "count": n}`: the next calls, after they took effect; calls: [`Call`] (`create_project`, `create_web_service`, …, `deploy`, `env_update`, `update`, `delete`, `start_stop`) |
//! | `POST /_sim/keys` | [`KeySpec`]: `{"key","account","scopes":["databases:read",…]\|null,"rate_per_minute":n\|null}` → 201 |
//! | `POST /_sim/keys/{key}/revoke` | `{}` (401 from then on) |
//! | `POST /_sim/keys/{key}/rate` | `{"per_minute": n\|null}`: the key's own rate (0 = unlimited) |
//! | `GET/POST /_sim/rate` | `{"per_minute": n}`: for keys without their own |
//! | `POST /_sim/deploy-outcome` | `{"outcome": "live"\|"failed"}`: how deployments made from now on end |
//! | `POST /_sim/{kind}` | the API's create body plus `account` (projects, buckets, storage-keys), `project_id` (project-secrets) or `web_service_id` (deployments, env-vars, secret-bindings) → 201; no counters, no faults |
//! | `PATCH /_sim/{kind}/{id}` | the API's fields without its state rules; `status` pins a status (web-services, databases, redis, buckets); `outcome` ends a deployment `live` or `failed` |
//! | `DELETE /_sim/{kind}/{id}` | at once, with what belongs to it (a project too) |
//! | `GET /_sim/state` | everything, secret values in clear |
//!
//! Kinds in hook paths: `projects`, `project-secrets`, `web-services`, `deployments`,
//! `env-vars`, `secret-bindings`, `databases`, `redis`, `buckets`, `storage-keys`.

mod assumed;
mod auth;
mod body;
mod config;
mod datastores;
mod deployments;
mod env;
mod error;
mod extract;
mod faults;
mod gate;
mod handle;
mod hooks;
mod lifecycle;
mod model;
mod oob;
mod projects;
mod routes;
mod server;
mod services;
mod stats;
mod storage;
mod store;
#[cfg(test)]
mod store_tests;

pub use assumed::{DEFAULT_RATE_PER_MINUTE, SECRET_MASK};
pub use config::{Area, KeySpec, ParseError, Scope, SimConfig};
pub use deployments::Outcome;
pub use error::SimError;
pub use faults::{AfterEffect, Armed, Call, Faults};
pub use handle::SimHandle;
pub use model::Kind;
pub use server::{RunningSim, Simulator};
pub use stats::Stats;
