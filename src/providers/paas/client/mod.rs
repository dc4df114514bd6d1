//! The PaaS public API (`seeds/paas-public-api.txt`): its routes, its models, what its answers
//! mean, and one typed method per route over the shared HTTP core.

pub mod assumed;
mod model;
mod routes;

pub use model::{
    AccessKey, Bucket, Datastore, Deployment, EnvEntry, NewProject, NewSecret, Project,
    ProjectSecret, SecretBinding, WebService,
};
pub use routes::{Flavor, Route};

use std::borrow::Borrow;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::http::{Auth, CreateRetry, Dialect, Endpoint, PortalError, Session};
use model::{Listed, NewValue};

/// How the PaaS speaks: `Authorization: Bearer ak_…`, `{"detail": "…"}` errors, and only 400,
/// 401, 403, 404 and 429 documented (a 400 is a refusal: see [`assumed`]).
pub struct PaasDialect;

impl Dialect for PaasDialect {
    fn auth(&self) -> Auth {
        Auth::Bearer
    }

    fn meaning(
        &self,
        _: &Endpoint,
        status: u16,
        retry_after: Option<Duration>,
        message: Option<String>,
    ) -> PortalError {
        // No status says "the name is taken": names repeat freely.
        PortalError::from_status(status, retry_after, message, false)
    }

    fn credential_prefixes(&self) -> &'static [&'static str] {
        assumed::KEY_PREFIXES
    }
}

/// The PaaS API through one session (held, or borrowed).
pub struct Paas<S = Session>(pub S);

impl<S: Borrow<Session>> Paas<S> {
    fn session(&self) -> &Session {
        self.0.borrow()
    }

    pub async fn list_projects(&self) -> Result<Vec<Project>, PortalError> {
        self.list(Route::ListProjects, &[]).await
    }

    /// Creates a project: sent once (repeated only when it certainly did not arrive), since a
    /// second one would be a second project. `None`: accepted without an answer naming it.
    pub async fn create_project(
        &self,
        body: &NewProject<'_>,
    ) -> Result<Option<Project>, PortalError> {
        self.write(
            Route::CreateProject,
            &[],
            Some(body),
            CreateRetry::WhenNotApplied,
        )
        .await
    }

    pub async fn list_secrets(&self, project_id: &str) -> Result<Vec<ProjectSecret>, PortalError> {
        self.list(Route::ListSecrets, &[project_id]).await
    }

    /// A taken key and scope is a 400 (no second one is made): repeating is harmless.
    pub async fn create_secret(
        &self,
        project_id: &str,
        body: &NewSecret<'_>,
    ) -> Result<Option<ProjectSecret>, PortalError> {
        self.write(
            Route::CreateSecret,
            &[project_id],
            Some(body),
            CreateRetry::OnTransient,
        )
        .await
    }

    pub async fn set_secret(
        &self,
        project_id: &str,
        secret_id: &str,
        value: &str,
    ) -> Result<(), PortalError> {
        self.write::<_, Value>(
            Route::UpdateSecret,
            &[project_id, secret_id],
            Some(&NewValue { value }),
            CreateRetry::OnTransient,
        )
        .await
        .map(drop)
    }

    /// A secret already gone answers `NotFound`, which callers deleting it treat as done.
    pub async fn delete_secret(
        &self,
        project_id: &str,
        secret_id: &str,
    ) -> Result<(), PortalError> {
        let endpoint = Route::DeleteSecret.endpoint();
        self.session()
            .delete(&endpoint, &endpoint.path(&[project_id, secret_id]))
            .await
    }

    pub async fn list_datastores(&self, flavor: Flavor) -> Result<Vec<Datastore>, PortalError> {
        self.list(Route::ListDatastores(flavor), &[]).await
    }

    /// Creates a data store: sent once, as a project (names repeat).
    pub async fn create_datastore(
        &self,
        flavor: Flavor,
        body: &Map<String, Value>,
    ) -> Result<Option<Datastore>, PortalError> {
        self.write(
            Route::CreateDatastore(flavor),
            &[],
            Some(body),
            CreateRetry::WhenNotApplied,
        )
        .await
    }

    /// The detail, with the connection once it runs.
    pub async fn datastore(&self, flavor: Flavor, id: &str) -> Result<Datastore, PortalError> {
        let endpoint = Route::GetDatastore(flavor).endpoint();
        self.session().get(&endpoint, &endpoint.path(&[id])).await
    }

    pub async fn update_datastore(
        &self,
        flavor: Flavor,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), PortalError> {
        self.write::<_, Value>(
            Route::UpdateDatastore(flavor),
            &[id],
            Some(body),
            CreateRetry::OnTransient,
        )
        .await
        .map(drop)
    }

    /// Stops (`false`) or starts (`true`) a data store; a repeat is refused (400), not doubled.
    pub async fn run_datastore(
        &self,
        flavor: Flavor,
        id: &str,
        running: bool,
    ) -> Result<(), PortalError> {
        let route = if running {
            Route::StartDatastore(flavor)
        } else {
            Route::StopDatastore(flavor)
        };
        self.write::<(), Value>(route, &[id], None, CreateRetry::WhenNotApplied)
            .await
            .map(drop)
    }

    /// Accepted before it is gone; one already gone answers `NotFound`.
    pub async fn delete_datastore(&self, flavor: Flavor, id: &str) -> Result<(), PortalError> {
        let endpoint = Route::DeleteDatastore(flavor).endpoint();
        self.session()
            .delete(&endpoint, &endpoint.path(&[id]))
            .await
    }

    pub async fn list_services(&self) -> Result<Vec<WebService>, PortalError> {
        self.list(Route::ListServices, &[]).await
    }

    /// Creates a web service (which queues its first deployment): sent once, names repeat.
    pub async fn create_service(
        &self,
        body: &Map<String, Value>,
    ) -> Result<Option<WebService>, PortalError> {
        self.write(
            Route::CreateService,
            &[],
            Some(body),
            CreateRetry::WhenNotApplied,
        )
        .await
    }

    pub async fn update_service(
        &self,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), PortalError> {
        self.write::<_, Value>(
            Route::UpdateService,
            &[id],
            Some(body),
            CreateRetry::OnTransient,
        )
        .await
        .map(drop)
    }

    /// Stops (`false`) or starts (`true`) a service.
    pub async fn run_service(&self, id: &str, running: bool) -> Result<(), PortalError> {
        let route = if running {
            Route::StartService
        } else {
            Route::StopService
        };
        self.write::<(), Value>(route, &[id], None, CreateRetry::WhenNotApplied)
            .await
            .map(drop)
    }

    pub async fn delete_service(&self, id: &str) -> Result<(), PortalError> {
        let endpoint = Route::DeleteService.endpoint();
        self.session()
            .delete(&endpoint, &endpoint.path(&[id]))
            .await
    }

    /// The newest deployments first (one page: the document's default of 10).
    pub async fn deployments(&self, service_id: &str) -> Result<Vec<Deployment>, PortalError> {
        self.list(Route::ListDeployments, &[service_id]).await
    }

    /// One deployment: never repeated after an answer that may have been lost (the caller
    /// looks for it in the deployments).
    pub async fn deploy(&self, service_id: &str) -> Result<Option<Deployment>, PortalError> {
        let body = serde_json::json!({});
        self.write(
            Route::Deploy,
            &[service_id],
            Some(&body),
            CreateRetry::WhenNotApplied,
        )
        .await
    }

    pub async fn env(&self, service_id: &str) -> Result<Vec<EnvEntry>, PortalError> {
        self.list(Route::ListEnv, &[service_id]).await
    }

    /// A taken key is a 400 (no second one is made): repeating is harmless.
    pub async fn add_env(
        &self,
        service_id: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<EnvEntry>, PortalError> {
        let body = serde_json::json!({"key": key, "value": value, "is_secret": true});
        self.write(
            Route::CreateEnv,
            &[service_id],
            Some(&body),
            CreateRetry::OnTransient,
        )
        .await
    }

    pub async fn set_env(
        &self,
        service_id: &str,
        var_id: &str,
        value: &str,
    ) -> Result<(), PortalError> {
        self.write::<_, Value>(
            Route::UpdateEnv,
            &[service_id, var_id],
            Some(&NewValue { value }),
            CreateRetry::OnTransient,
        )
        .await
        .map(drop)
    }

    pub async fn delete_env(&self, service_id: &str, var_id: &str) -> Result<(), PortalError> {
        let endpoint = Route::DeleteEnv.endpoint();
        self.session()
            .delete(&endpoint, &endpoint.path(&[service_id, var_id]))
            .await
    }

    pub async fn bindings(&self, service_id: &str) -> Result<Vec<SecretBinding>, PortalError> {
        self.list(Route::ListBindings, &[service_id]).await
    }

    /// Sent once (repeated only when it certainly did not arrive): whether a second binding of
    /// a variable would be made is not documented; after a lost answer the list tells.
    pub async fn bind(
        &self,
        service_id: &str,
        project_secret_id: &str,
        alias_key: &str,
    ) -> Result<Option<SecretBinding>, PortalError> {
        let body =
            serde_json::json!({"project_secret_id": project_secret_id, "alias_key": alias_key});
        self.write(
            Route::CreateBinding,
            &[service_id],
            Some(&body),
            CreateRetry::WhenNotApplied,
        )
        .await
    }

    /// A binding already gone answers `NotFound`, which callers treat as done.
    pub async fn unbind(&self, service_id: &str, binding_id: &str) -> Result<(), PortalError> {
        let endpoint = Route::DeleteBinding.endpoint();
        self.session()
            .delete(&endpoint, &endpoint.path(&[service_id, binding_id]))
            .await
    }

    pub async fn list_buckets(&self) -> Result<Vec<Bucket>, PortalError> {
        self.list(Route::ListBuckets, &[]).await
    }

    /// Creates a bucket: sent once.
    pub async fn create_bucket(
        &self,
        name: &str,
        public: bool,
    ) -> Result<Option<Bucket>, PortalError> {
        let body = serde_json::json!({"name": name, "public": public});
        self.write(
            Route::CreateBucket,
            &[],
            Some(&body),
            CreateRetry::WhenNotApplied,
        )
        .await
    }

    pub async fn set_public(&self, id: &str, public: bool) -> Result<(), PortalError> {
        let body = serde_json::json!({"public": public});
        self.write::<_, Value>(
            Route::UpdateBucket,
            &[id],
            Some(&body),
            CreateRetry::OnTransient,
        )
        .await
        .map(drop)
    }

    pub async fn delete_bucket(&self, id: &str) -> Result<(), PortalError> {
        let endpoint = Route::DeleteBucket.endpoint();
        self.session()
            .delete(&endpoint, &endpoint.path(&[id]))
            .await
    }

    pub async fn list_keys(&self) -> Result<Vec<AccessKey>, PortalError> {
        self.list(Route::ListKeys, &[]).await
    }

    /// Makes an access key to one bucket: sent once (its secret is in this answer only).
    pub async fn create_key(
        &self,
        name: &str,
        bucket_id: &str,
    ) -> Result<Option<AccessKey>, PortalError> {
        let body = serde_json::json!({"name": name, "bucket_id": bucket_id});
        self.write(
            Route::CreateKey,
            &[],
            Some(&body),
            CreateRetry::WhenNotApplied,
        )
        .await
    }

    /// Revokes a key; one already gone answers `NotFound`.
    pub async fn delete_key(&self, id: &str) -> Result<(), PortalError> {
        let endpoint = Route::DeleteKey.endpoint();
        self.session()
            .delete(&endpoint, &endpoint.path(&[id]))
            .await
    }

    async fn list<T: DeserializeOwned>(
        &self,
        route: Route,
        segments: &[&str],
    ) -> Result<Vec<T>, PortalError> {
        let endpoint = route.endpoint();
        let listed: Listed<T> = self
            .session()
            .get(&endpoint, &endpoint.path(segments))
            .await?;
        Ok(listed.0)
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

    #[test]
    fn only_documented_codes_have_a_meaning_and_400_is_a_refusal() {
        let endpoint = Route::CreateProject.endpoint();
        let meaning = |status| PaasDialect.meaning(&endpoint, status, None, Some("x".into()));
        assert!(matches!(
            meaning(400),
            PortalError::Rejected { status: 400, .. }
        ));
        assert!(meaning(400).is_refusal());
        assert!(matches!(meaning(401), PortalError::Unauthorized { .. }));
        assert!(matches!(meaning(403), PortalError::Forbidden { .. }));
        assert!(matches!(meaning(404), PortalError::NotFound { .. }));
        assert!(matches!(meaning(429), PortalError::RateLimited { .. }));
        assert!(meaning(503).is_transient());
        assert_eq!(
            PaasDialect
                .error_text(br#"{"detail": "Project not found"}"#)
                .as_deref(),
            Some("Project not found")
        );
    }
}
