//! Every ASSUMPTION the simulator makes where the WaysCloud document
//! (`seeds/wayscloud-databases-api.txt`) is silent. Each takes the least convenient reading a real
//! portal might have, so that an operator tested here copes with the portal whichever way it
//! turns out. The values live here; the code that acts on one names it (`assumed::…`).
//!
//! **Names**
//! - [`MARIADB_TOKEN`]: the document shows `cust_6dd1d906_pg_…` for PostgreSQL only; MariaDB's
//!   token is taken to be `mdb`. An operator must learn names from answers and lists.
//! - [`validate_customer`]: customer ids are 1–32 lowercase letters and digits (the example's
//!   `6dd1d906`), so a name splits at its underscores.
//! - Requested names: "alphanumeric and underscore only, max 30 chars" is read as
//!   `^[a-z0-9_]+$`, 1–30: capitals are refused, not lowered (`validate`).
//! - [`generated_suffix`]: without `requested_name`, the name ends in `YYYYMMDD_<6 hex>` (the
//!   document's `cust_abc123_pg_20251109_xyz`).
//! - Restores: `target_db_name` is a requested name, derived like a create's even when it looks
//!   like a full name (`cust_…` gets a second prefix).
//!
//! **Answers**
//! - [`CREATED`]: a create that made something (database, firewall rule, snapshot) answers 201;
//!   everything else that succeeds, including an idempotent create, 200.
//! - Idempotent creates: the `password` field is required, so the answer carries one, freshly
//!   generated and never applied (`password_generated: true`): it is not the database's password.
//! - [`QUOTA_STATUS`]: a create (or a restore into a new database) beyond the quota is refused
//!   with 403, the status of a missing permission, told apart only by its text
//!   ([`quota_exceeded`]). The quota is checked before the name ("checks database quota and
//!   permissions", then creates): at the limit, even a create of an existing name is refused.
//!   [`DEFAULT_QUOTA`] databases per customer unless configured.
//! - List elements: objects `{db_name, db_type, username, created_at, size_mb}`.
//! - `GET …/credentials`: `password` is [`MASKED`], and so is the password in its connection
//!   string; only create and rotate show the real one.
//! - [`timestamp`]: times are ISO 8601 in UTC without an offset, to the microsecond (what
//!   Python's `datetime.utcnow().isoformat()` gives).
//! - [`host`] and [`port`]: one host per engine.
//! - [`DEFAULT_CONNECTION_LIMIT`]: a new database allows 100 connections.
//! - `…/info`: `owner` is the database's user, `connection_count` 0, `size_mb` a decimal.
//! - History: `{"databases": [{db_name, db_type, created_at, deleted_at}], "total"}`, oldest
//!   first, deleted ones with their `deleted_at`. Quota: `storage_limit_gb` is
//!   [`STORAGE_GB_PER_DATABASE`] per database allowed. Engines
//!   `{"engines": [{db_type, name, versions, default_port, features}]}`; metrics all zero but
//!   sizes and limits, `measured_at` the last five-minute mark; restart `{success, message}`.
//! - Snapshot list elements: `{snapshot_id, db_name, db_type, size_mb, created_at, description,
//!   type}`, `type` `manual` or [`AUTOMATED`]; a backup policy's snapshots also say so in their
//!   description ([`policy_description`]).
//! - Errors: `{"detail": "text"}`; bad bodies 422 with pydantic's list; unknown routes
//!   `{"detail": "Not Found"}`, wrong methods `{"detail": "Method Not Allowed"}`. An injected
//!   server error is Starlette's plain-text `500 Internal Server Error` ([`SERVER_ERROR`]), not JSON.
//!
//! **Permissions** (the document names some): list, info, credentials, firewall list, metrics,
//! quota, history, snapshot list and, as documented, snapshot create need `database:read`;
//! PATCH, rotate, restart, firewall add and delete, restore and policy PUT need
//! `database:update`; database and snapshot deletes `database:delete`. `GET …/engines`
//! ("requires service API key") is open to any valid key. A database of another customer is
//! 403; one that does not exist, 404. Every simulated key is a customer key: `customer_id` in
//! bodies and queries is ignored.
//!
//! **Checks, in order**: injected faults, 401 key, 429 rate ([`RATE_PER_MINUTE`] per key per
//! sliding minute unless configured; refused requests use no budget), 403 permission, 422
//! path and body, 404 database, 403 owner, then the route's own refusals.
//!
//! **Bodies**: pydantic's lax defaults are not relied on: integers must be JSON integers and
//! booleans JSON booleans; `null` means absent; unknown fields are ignored. PATCH with nothing
//! to change is 400. Descriptions are at most [`DESCRIPTION_MAX`] characters.
//!
//! **Firewall**: IPv4 only (the document says "IPv4 address or CIDR block"); a CIDR with host
//! bits set (`10.0.0.1/24`) is refused with 422, as Python's strict `ip_network` does; the
//! address is kept as given (`10.0.0.1` and `10.0.0.1/32` are different rules for the list);
//! the same source may be added twice, each a rule of its own (UFW keeps both).
//!
//! **Backup policy**: every database starts with a disabled daily policy, 7 days, no time. PUT
//! replaces the policy: an omitted field is reset to its default, not kept. `retention_days` is
//! 1–365, `time_of_day` `HH:MM`. `next_backup` is computed while enabled; `last_backup` is set
//! by the policy's snapshots (a hook makes one).
//!
//! **Deletes and restores**: deleting a database deletes its snapshots. `username` on a delete,
//! if given, must be the database's user (400 otherwise). A restore into an existing database
//! name is 409; its snapshot must be one of the source database's (404 otherwise). Restores are
//! synchronous; a new database made by one has a password no answer shows (rotate to learn it).

use axum::http::StatusCode;

use crate::sim::clock::rfc3339;

use super::model::DbType;

pub const POSTGRES_TOKEN: &str = "pg";
pub const MARIADB_TOKEN: &str = "mdb";

/// Status of a create that made something.
pub const CREATED: StatusCode = StatusCode::CREATED;

/// Status of a create beyond the quota.
pub const QUOTA_STATUS: StatusCode = StatusCode::FORBIDDEN;

pub const DEFAULT_QUOTA: u32 = 20;

/// The storage limit `GET /v1/quota` shows per database of the quota.
pub const STORAGE_GB_PER_DATABASE: f64 = 10.0;

/// Connections a new database allows (the document gives only the 10-1000 range).
pub const DEFAULT_CONNECTION_LIMIT: u32 = 100;

pub const RATE_PER_MINUTE: u32 = 120;

/// What `GET …/credentials` shows for a password.
pub const MASKED: &str = "********";

/// The snapshot `type` of a backup policy's snapshots (others are `manual`).
pub const AUTOMATED: &str = "automated";

pub const DESCRIPTION_MAX: usize = 255;

/// The body of an injected server error.
pub const SERVER_ERROR: &str = "Internal Server Error";

/// Why a customer id is unusable, if it is.
pub fn validate_customer(customer: &str) -> Result<(), String> {
    let ok = (1..=32).contains(&customer.len())
        && customer
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "customer id {customer:?} must be 1-32 lowercase letters and digits"
        ))
    }
}

/// The quota refusal's text.
pub fn quota_exceeded(used: usize, limit: u32) -> String {
    format!("Database quota exceeded: {used} of {limit} databases in use")
}

/// The end of a database name created without `requested_name`.
pub fn generated_suffix(now_ms: u64, hex6: &str) -> String {
    let day = rfc3339(now_ms);
    format!("{}{}{}_{hex6}", &day[0..4], &day[5..7], &day[8..10])
}

/// A time as the portal writes it.
pub fn timestamp(ms: u64) -> String {
    let zoned = rfc3339(ms);
    format!("{}000", zoned.trim_end_matches('Z'))
}

pub fn host(db_type: DbType) -> &'static str {
    match db_type {
        DbType::Postgresql => "pg.wayscloud.services",
        DbType::Mariadb => "mariadb.wayscloud.services",
    }
}

pub fn port(db_type: DbType) -> u16 {
    match db_type {
        DbType::Postgresql => 5432,
        DbType::Mariadb => 3306,
    }
}

/// The description of a snapshot a backup policy made.
pub fn policy_description(frequency: &str) -> String {
    format!("Automated {frequency} backup (backup policy)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_suffixes() {
        assert_eq!(timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123000");
        assert_eq!(
            generated_suffix(1_700_000_000_123, "a1b2c3"),
            "20231114_a1b2c3"
        );
    }

    #[test]
    fn customer_ids() {
        assert!(validate_customer("6dd1d906").is_ok());
        assert!(validate_customer("").is_err());
        assert!(validate_customer("abc_1").is_err());
        assert!(validate_customer("ABC").is_err());
    }
}
