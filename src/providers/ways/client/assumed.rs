//! What the WaysCloud document (`seeds/wayscloud-databases-api.txt`) leaves unsaid, and how the
//! client reads it: tolerantly, never relying on the convenient answer. The simulator takes the
//! least convenient reading of each (`providers::ways::sim`).
//!
//! - **Names.** A database is `cust_<customer>_<type token>_<requested name>` (the document's
//!   example: `cust_6dd1d906_pg_webapp_prod_db`). The MariaDB token is not given, and neither is
//!   the customer id's alphabet. Assumed: neither holds an underscore, so the requested name is
//!   everything after the third underscore ([`requested_part`]). The operator never builds a
//!   name: it learns it from the create answer or the list.
//! - **List elements.** `GET /v1/databases/{type}` answers `{"databases": [...]}` without saying
//!   what an element is: a bare name, or an object naming it in `db_name` (or `name`), both read.
//! - **Duplicates.** A create for a name that exists answers success with `idempotent: true`. No
//!   409 is documented; one is read as "the name is taken" all the same. The password in an
//!   idempotent answer is never used (it may be empty, stale or a new one).
//! - **Quota.** No status code is documented for a create beyond the quota: 402, and any 4xx
//!   whose text speaks of a quota or limit, are read as the quota ([`speaks_of_quota`]).
//! - **Errors.** FastAPI style: `{"detail": "text"}`, or for 422 a list of
//!   `{"loc": [...], "msg": "..."}`; both are shown to users.
//! - **Rate limit.** None is documented. The default budget is 60 requests a minute per key
//!   (the design's example), and a 429 with or without `Retry-After` pauses the key.
//! - **Probe.** `GET /v1/quota` is taken as readable by any valid key (no permission is named).
//! - **Snapshots.** List elements are objects with `snapshot_id` (or `id`) and, where given,
//!   `size_mb`, `created_at` and the `description` sent with the create; elements without an id
//!   are skipped. The description is the only thing a caller chooses, so it carries the
//!   identity of the object that asked ([`crate::providers::ways`]'s snapshot marker); a portal
//!   whose list shows no descriptions makes a lost answer unrecoverable, and the operator says
//!   so. What the backup policy takes is told apart by that marker alone: a snapshot without this
//!   object's marker is never deleted.
//! - **Restores.** The answer names no restore (no id, no status): a restore is synchronous and
//!   done when answered. 409 on a restore into a new name is "the name is taken", and a quota
//!   text is the quota, as for a create.
//! - **Times.** `created_at` may lack an offset (`2026-01-01T10:00:00.123000`, Python's
//!   `utcnow().isoformat()`): read as UTC ([`portal_time`]).

use k8s_openapi::jiff::civil::DateTime;
use k8s_openapi::jiff::{Timestamp, tz::TimeZone};

/// The requested-name part of a portal database name: after `cust_<customer>_<token>_`.
pub fn requested_part(db_name: &str) -> Option<&str> {
    let rest = db_name.strip_prefix("cust_")?;
    let (customer, rest) = rest.split_once('_')?;
    let (token, requested) = rest.split_once('_')?;
    (!customer.is_empty() && !token.is_empty() && !requested.is_empty()).then_some(requested)
}

/// A portal time: RFC 3339, or without an offset (then UTC).
pub fn portal_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    text.parse().ok().or_else(|| {
        let civil: DateTime = text.parse().ok()?;
        civil.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
    })
}

/// An error text that says a quota or plan limit was reached.
pub fn speaks_of_quota(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("quota") || text.contains("limit reached") || text.contains("maximum number")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requested_part_is_all_after_the_third_underscore() {
        assert_eq!(
            requested_part("cust_6dd1d906_pg_webapp_prod_db"),
            Some("webapp_prod_db")
        );
        assert_eq!(requested_part("cust_abc_mdb_orders"), Some("orders"));
        assert_eq!(requested_part("cust_abc_pg_"), None);
        assert_eq!(requested_part("orders"), None);
        assert_eq!(requested_part("cust_abc_orders"), None);
    }

    #[test]
    fn times_are_read_with_or_without_an_offset() {
        let utc: Timestamp = "2026-01-01T10:00:00.123Z".parse().unwrap();
        assert_eq!(portal_time("2026-01-01T10:00:00.123000"), Some(utc));
        assert_eq!(portal_time("2026-01-01T11:00:00.123+01:00"), Some(utc));
        assert_eq!(portal_time("yesterday"), None);
    }

    #[test]
    fn quota_texts_are_recognised() {
        assert!(speaks_of_quota("Database quota exceeded (5/5)"));
        assert!(speaks_of_quota("Maximum number of databases reached"));
        assert!(!speaks_of_quota("requested_name: invalid characters"));
    }
}
