//! The WaysCloud Databases API (`seeds/wayscloud-databases-api.txt`): its routes, its models,
//! what its answers mean, and one typed method per route over the shared HTTP core.

pub mod assumed;
mod model;
mod routes;

pub use model::{
    CreateDatabase, Created, Credentials, Database, Info, NewRule, NewSnapshot, Policy,
    RestoreRequest, Restored, Rule, Sensitive, Snapshot, Update,
};
pub use routes::Route;

use std::borrow::Borrow;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::{
    Auth, Budget, CreateRetry, Dialect, Endpoint, Portal, PortalError, Session, SetupError,
};
use model::{CredentialsAnswer, ListAnswer, RulesAnswer, SnapshotsAnswer};

/// The portal's documented address.
pub const DEFAULT_URL: &str = "https://api.wayscloud.services";

/// How WaysCloud speaks: `X-API-Key`, FastAPI error bodies (`{"detail": "…"}`, or a list of
/// field errors for 422), no documented status for a quota (see [`assumed`]).
pub struct WaysDialect;

impl Dialect for WaysDialect {
    fn auth(&self) -> Auth {
        Auth::Header("x-api-key")
    }

    fn error_text(&self, body: &[u8]) -> Option<String> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(fields)) => match fields.get("detail") {
                Some(Value::Array(problems)) => Some(field_errors(problems)),
                _ => crate::http::plain_error_text(body),
            },
            _ => crate::http::plain_error_text(body),
        }
    }

    fn meaning(
        &self,
        endpoint: &Endpoint,
        status: u16,
        retry_after: Option<Duration>,
        message: Option<String>,
    ) -> PortalError {
        let quota = message.as_deref().is_some_and(assumed::speaks_of_quota);
        // A restore into a new database creates one: the same quota and taken names.
        let creates = matches!(
            Route::of(endpoint),
            Some(Route::CreateDatabase | Route::Restore)
        );
        match status {
            402 => PortalError::QuotaExceeded { message },
            400 | 403 | 409 | 422 if creates && quota => PortalError::QuotaExceeded { message },
            409 if creates => PortalError::AlreadyExists { status, message },
            _ => PortalError::from_status(status, retry_after, message, false),
        }
    }
}

/// A 422's list of field errors as one line: `body.requested_name: string too long; …`.
fn field_errors(problems: &[Value]) -> String {
    let one = |problem: &Value| {
        let place = problem
            .get("loc")
            .and_then(Value::as_array)
            .map(|parts| {
                parts
                    .iter()
                    .map(|part| match part {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .unwrap_or_default();
        let message = problem
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or("invalid");
        if place.is_empty() {
            message.to_owned()
        } else {
            format!("{place}: {message}")
        }
    };
    problems.iter().map(one).collect::<Vec<_>>().join("; ")
}

/// WaysCloud at `url`.
pub fn portal(url: &str, budget: Budget, allow_insecure_http: bool) -> Result<Portal, SetupError> {
    Portal::new(url, budget, &WaysDialect, allow_insecure_http)
}

/// The WaysCloud API through one session (held, or borrowed).
pub struct Ways<S = Session>(pub S);

impl<S: Borrow<Session>> Ways<S> {
    fn session(&self) -> &Session {
        self.0.borrow()
    }

    /// One cheap authenticated read.
    pub async fn quota(&self) -> Result<Value, PortalError> {
        self.get(Route::Quota, &[]).await
    }

    pub async fn list_databases(&self, db_type: &str) -> Result<Vec<Database>, PortalError> {
        let answer: ListAnswer = self.get(Route::ListDatabases, &[db_type]).await?;
        Ok(answer.into_databases(db_type))
    }

    /// Creates `requested_name` (once: repeated only when the request certainly did not
    /// arrive). `existed`: the portal answered for a database that was there already.
    pub async fn create_database(&self, body: &CreateDatabase<'_>) -> Result<Created, PortalError> {
        let route = Route::CreateDatabase;
        let answer: CredentialsAnswer = self
            .write(route, &[], Some(body), CreateRetry::WhenNotApplied)
            .await?
            .ok_or(PortalError::Decode {
                route: route.endpoint().template,
                message: "the create was accepted without an answer".to_owned(),
            })?;
        Ok(answer.into_created(body.db_type))
    }

    pub async fn update_database(
        &self,
        db_type: &str,
        db_name: &str,
        update: &Update<'_>,
    ) -> Result<(), PortalError> {
        self.write::<_, Value>(
            Route::UpdateDatabase,
            &[db_type, db_name],
            Some(update),
            CreateRetry::OnTransient,
        )
        .await
        .map(drop)
    }

    /// A database already gone answers `NotFound`, which callers deleting it treat as done.
    pub async fn delete_database(&self, db_type: &str, db_name: &str) -> Result<(), PortalError> {
        let route = Route::DeleteDatabase;
        self.session()
            .delete(
                &route.endpoint(),
                &route.endpoint().path(&[db_type, db_name]),
            )
            .await
    }

    pub async fn info(&self, db_type: &str, db_name: &str) -> Result<Info, PortalError> {
        self.get(Route::Info, &[db_type, db_name]).await
    }

    /// A new password (the old one stops working at once). Not repeated after an answer that
    /// may have been lost: the caller rotates again when it does not know the outcome.
    pub async fn rotate(&self, db_type: &str, db_name: &str) -> Result<Database, PortalError> {
        let route = Route::RotateCredentials;
        let answer: CredentialsAnswer = self
            .write::<(), _>(
                route,
                &[db_type, db_name],
                None,
                CreateRetry::WhenNotApplied,
            )
            .await?
            .ok_or(PortalError::Decode {
                route: route.endpoint().template,
                message: "the rotation was accepted without an answer".to_owned(),
            })?;
        Ok(answer.into_created(db_type).database)
    }

    pub async fn firewall(&self, db_type: &str, db_name: &str) -> Result<Vec<Rule>, PortalError> {
        let answer: RulesAnswer = self.get(Route::ListFirewall, &[db_type, db_name]).await?;
        Ok(answer.rules)
    }

    pub async fn add_rule(
        &self,
        db_type: &str,
        db_name: &str,
        rule: &NewRule<'_>,
    ) -> Result<(), PortalError> {
        self.write::<_, Value>(
            Route::AddFirewallRule,
            &[db_type, db_name],
            Some(rule),
            CreateRetry::WhenNotApplied,
        )
        .await
        .map(drop)
    }

    pub async fn delete_rule(
        &self,
        db_type: &str,
        db_name: &str,
        rule_id: &str,
    ) -> Result<(), PortalError> {
        let route = Route::DeleteFirewallRule;
        let path = route.endpoint().path(&[db_type, db_name, rule_id]);
        self.session().delete(&route.endpoint(), &path).await
    }

    pub async fn backup_policy(&self, db_type: &str, db_name: &str) -> Result<Policy, PortalError> {
        self.get(Route::GetBackupPolicy, &[db_type, db_name]).await
    }

    pub async fn set_backup_policy(
        &self,
        db_type: &str,
        db_name: &str,
        policy: &Policy,
    ) -> Result<(), PortalError> {
        self.write::<_, Value>(
            Route::SetBackupPolicy,
            &[db_type, db_name],
            Some(policy),
            CreateRetry::OnTransient,
        )
        .await
        .map(drop)
    }

    /// A database's snapshots, newest first as documented. An unknown database is `NotFound`.
    pub async fn list_snapshots(
        &self,
        db_type: &str,
        db_name: &str,
    ) -> Result<Vec<Snapshot>, PortalError> {
        let answer: SnapshotsAnswer = self.get(Route::ListSnapshots, &[db_type, db_name]).await?;
        Ok(answer.into_snapshots())
    }

    /// Takes a snapshot (never repeated after an answer that may have been lost: the caller
    /// looks for it by its description). `None`: accepted without an answer naming it.
    pub async fn create_snapshot(
        &self,
        db_type: &str,
        db_name: &str,
        body: &NewSnapshot<'_>,
    ) -> Result<Option<Snapshot>, PortalError> {
        self.write(
            Route::CreateSnapshot,
            &[db_type, db_name],
            Some(body),
            CreateRetry::WhenNotApplied,
        )
        .await
    }

    /// A snapshot already gone answers `NotFound`, which callers deleting it treat as done.
    pub async fn delete_snapshot(
        &self,
        db_type: &str,
        db_name: &str,
        snapshot_id: &str,
    ) -> Result<(), PortalError> {
        let route = Route::DeleteSnapshot;
        let path = route.endpoint().path(&[db_type, db_name, snapshot_id]);
        self.session().delete(&route.endpoint(), &path).await
    }

    /// Restores a snapshot of `db_name`, in place or into a new database. Sent once: a restore
    /// has no id to find it by, so an answer that may have been lost is never followed by another.
    pub async fn restore(
        &self,
        db_type: &str,
        db_name: &str,
        body: &RestoreRequest<'_>,
    ) -> Result<Restored, PortalError> {
        let answer: Option<Restored> = self
            .write(
                Route::Restore,
                &[db_type, db_name],
                Some(body),
                CreateRetry::WhenNotApplied,
            )
            .await?;
        Ok(answer.unwrap_or_default())
    }

    async fn get<T: DeserializeOwned>(
        &self,
        route: Route,
        segments: &[&str],
    ) -> Result<T, PortalError> {
        let endpoint = route.endpoint();
        self.session()
            .get(&endpoint, &endpoint.path(segments))
            .await
    }

    async fn write<B: Serialize, T: DeserializeOwned>(
        &self,
        route: Route,
        segments: &[&str],
        body: Option<&B>,
        retry: CreateRetry,
    ) -> Result<Option<T>, PortalError> {
        let endpoint = route.endpoint();
        self.session()
            .write(&endpoint, &endpoint.path(segments), body, retry)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meaning(route: Route, status: u16, text: &str) -> PortalError {
        WaysDialect.meaning(&route.endpoint(), status, None, Some(text.to_owned()))
    }

    #[test]
    fn fastapi_field_errors_become_one_line() {
        let body = br#"{"detail": [{"loc": ["body", "requested_name"], "msg": "string too long", "type": "value_error"}, {"loc": ["body", "db_type"], "msg": "unexpected value"}]}"#;
        assert_eq!(
            WaysDialect.error_text(body).as_deref(),
            Some("body.requested_name: string too long; body.db_type: unexpected value")
        );
        assert_eq!(
            WaysDialect
                .error_text(br#"{"detail": "Database not found"}"#)
                .as_deref(),
            Some("Database not found")
        );
    }

    #[test]
    fn quota_and_taken_names_are_told_apart_on_create_only() {
        assert!(matches!(
            meaning(Route::CreateDatabase, 403, "Database quota exceeded"),
            PortalError::QuotaExceeded { .. }
        ));
        assert!(matches!(
            meaning(
                Route::CreateDatabase,
                403,
                "missing permission database:create"
            ),
            PortalError::Forbidden { .. }
        ));
        assert!(matches!(
            meaning(Route::CreateDatabase, 409, "exists"),
            PortalError::AlreadyExists { .. }
        ));
        assert!(matches!(
            meaning(
                Route::Restore,
                409,
                "Database cust_c1_pg_copy already exists"
            ),
            PortalError::AlreadyExists { .. }
        ));
        assert!(matches!(
            meaning(Route::UpdateDatabase, 409, "busy"),
            PortalError::Rejected { status: 409, .. }
        ));
        assert!(matches!(
            meaning(Route::Info, 404, "Database not found"),
            PortalError::NotFound { .. }
        ));
    }
}
