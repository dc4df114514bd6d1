//! Database at the portal: `/api/portal/databases`.

use serde_json::{Map, Value};

use crate::api::{Database, DatabaseStatus, ManagedStatus, Provider};
use crate::http::{CreateRetry, PortalError, Session};

use super::client::{self as portal, CreateDatabase, Htx};

use crate::reconcile::context::Context;
use crate::reconcile::kind::{LookUp, PortalKind, has_managed_status, managed_fields};
use crate::reconcile::snapshot::Snapshots;

has_managed_status!(DatabaseStatus);

impl PortalKind for Database {
    type Status = DatabaseStatus;
    type Remote = portal::Database;
    const PROVIDER: Provider = Provider::Htx;
    const NOUN: &'static str = "database";

    managed_fields!(DatabaseStatus);
    super::portal_named!();

    fn snapshots(ctx: &Context) -> &Snapshots<portal::Database> {
        &ctx.state::<super::HtxState>().databases
    }

    async fn list(
        client: &Session,
        _part: &'static str,
    ) -> Result<Vec<portal::Database>, PortalError> {
        Htx(client).list_databases().await
    }

    async fn create(
        &self,
        client: &Session,
        name: &str,
    ) -> Result<Option<portal::Database>, PortalError> {
        let body = CreateDatabase {
            name: name.to_owned(),
            engine: self.spec.engine.as_str().to_owned(),
            sku: self.spec.sku.clone(),
        };
        Htx(client)
            .create_database(&body, CreateRetry::WhenNotApplied)
            .await
    }

    async fn delete(
        &self,
        client: &Session,
        name: &str,
        _seen: Option<&portal::Database>,
    ) -> Result<(), PortalError> {
        Htx(client).delete_database(name).await
    }

    const LOOK_UP: Option<LookUp<portal::Database>> =
        Some(|client, name| Box::pin(async move { Htx(client).find_database(name).await }));

    fn remote_name(remote: &portal::Database) -> &str {
        &remote.name
    }

    fn remote_id(remote: &portal::Database) -> &str {
        &remote.id
    }

    fn remote_state(remote: &portal::Database) -> &str {
        &remote.status
    }

    fn describe(&self) -> String {
        format!("({} {})", self.spec.engine.as_str(), self.spec.sku)
    }

    fn drift(&self, remote: &portal::Database) -> Vec<String> {
        let mut problems = Vec::new();
        let engine = self.spec.engine.as_str();
        if !remote.engine.is_empty() && remote.engine != engine {
            problems.push(format!(
                "engine is '{}' at the portal but the spec asks for '{engine}'",
                remote.engine
            ));
        }
        if !remote.sku.is_empty() && remote.sku != self.spec.sku {
            problems.push(format!(
                "sku is '{}' at the portal but the spec asks for '{}'",
                remote.sku, self.spec.sku
            ));
        }
        problems
    }

    fn connection(remote: &portal::Database) -> Option<Map<String, Value>> {
        remote.connection_details()
    }

    fn mirrored(remote: &portal::Database, managed: ManagedStatus) -> DatabaseStatus {
        DatabaseStatus {
            managed,
            engine: non_empty(&remote.engine),
            sku: non_empty(&remote.sku),
            cluster_target: remote.cluster_target.clone(),
        }
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}
