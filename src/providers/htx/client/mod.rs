//! The HTX portal API (`seeds/htx-openapi.json`): its routes, its models, what its answers mean,
//! and one typed method per route over the shared HTTP core.

mod model;
mod routes;

pub use model::{
    Backup, CreateDatabase, CreateProduct, Database, Function, Proxy, backup_lifecycle,
};
pub use routes::Route;

use std::borrow::Borrow;
use std::time::Duration;

use crate::http::{
    Auth, Budget, CreateRetry, Dialect, Endpoint, Portal, PortalError, Session, SetupError,
};

/// The portal's documented address (white-label portals have their own).
pub const DEFAULT_URL: &str = "https://portal.vinacis.com";

/// How the HTX portal speaks: `Authorization: Bearer htx_…`, `{"error": "…"}` texts, 402 for a
/// plan quota, 409 (or a 422 saying so) for a taken name on a named create.
pub struct HtxDialect;

impl Dialect for HtxDialect {
    fn auth(&self) -> Auth {
        Auth::Bearer
    }

    fn meaning(
        &self,
        endpoint: &Endpoint,
        status: u16,
        retry_after: Option<Duration>,
        message: Option<String>,
    ) -> PortalError {
        let names_something = Route::of(endpoint).is_some_and(Route::creates_named);
        PortalError::from_status(status, retry_after, message, names_something)
    }

    fn credential_prefixes(&self) -> &'static [&'static str] {
        &["htx_"]
    }
}

/// The HTX portal at `url`.
pub fn portal(url: &str, budget: Budget, allow_insecure_http: bool) -> Result<Portal, SetupError> {
    Portal::new(url, budget, &HtxDialect, allow_insecure_http)
}

/// The HTX portal's API through one session (held, or borrowed).
pub struct Htx<S = Session>(pub S);

impl<S: Borrow<Session>> Htx<S> {
    fn session(&self) -> &Session {
        self.0.borrow()
    }

    pub async fn list_databases(&self) -> Result<Vec<Database>, PortalError> {
        self.read(Route::ListDatabases, None).await
    }

    pub async fn get_database(&self, name: &str) -> Result<Database, PortalError> {
        self.read(Route::GetDatabase, Some(name)).await
    }

    /// The database of that name; `None` when the portal answers 404.
    pub async fn find_database(&self, name: &str) -> Result<Option<Database>, PortalError> {
        let route = Route::GetDatabase;
        self.session()
            .find(&route.endpoint(), &route.path(Some(name)))
            .await
    }

    /// `None` when the portal accepted the create without returning the object (202/204).
    pub async fn create_database(
        &self,
        body: &CreateDatabase,
        retry: CreateRetry,
    ) -> Result<Option<Database>, PortalError> {
        self.create(Route::CreateDatabase, None, Some(body), retry)
            .await
    }

    /// A database that is already gone answers `NotFound`, which callers deleting it treat as done.
    pub async fn delete_database(&self, name: &str) -> Result<(), PortalError> {
        self.delete(Route::DeleteDatabase, name).await
    }

    pub async fn list_backups(&self, database: &str) -> Result<Vec<Backup>, PortalError> {
        self.read(Route::ListBackups, Some(database)).await
    }

    pub async fn create_backup(
        &self,
        database: &str,
        retry: CreateRetry,
    ) -> Result<Option<Backup>, PortalError> {
        self.create::<(), Backup>(Route::CreateBackup, Some(database), None, retry)
            .await
    }

    pub async fn list_functions(&self) -> Result<Vec<Function>, PortalError> {
        self.read(Route::ListFunctions, None).await
    }

    pub async fn create_function(
        &self,
        body: &CreateProduct,
        retry: CreateRetry,
    ) -> Result<Option<Function>, PortalError> {
        self.create(Route::CreateFunction, None, Some(body), retry)
            .await
    }

    pub async fn delete_function(&self, name: &str) -> Result<(), PortalError> {
        self.delete(Route::DeleteFunction, name).await
    }

    pub async fn list_proxies(&self) -> Result<Vec<Proxy>, PortalError> {
        self.read(Route::ListProxies, None).await
    }

    pub async fn create_proxy(
        &self,
        body: &CreateProduct,
        retry: CreateRetry,
    ) -> Result<Option<Proxy>, PortalError> {
        self.create(Route::CreateProxy, None, Some(body), retry)
            .await
    }

    pub async fn delete_proxy(&self, name: &str) -> Result<(), PortalError> {
        self.delete(Route::DeleteProxy, name).await
    }

    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        route: Route,
        name: Option<&str>,
    ) -> Result<T, PortalError> {
        self.session()
            .get(&route.endpoint(), &route.path(name))
            .await
    }

    async fn create<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        route: Route,
        name: Option<&str>,
        body: Option<&B>,
        retry: CreateRetry,
    ) -> Result<Option<T>, PortalError> {
        self.session()
            .write(&route.endpoint(), &route.path(name), body, retry)
            .await
    }

    async fn delete(&self, route: Route, name: &str) -> Result<(), PortalError> {
        self.session()
            .delete(&route.endpoint(), &route.path(Some(name)))
            .await
    }
}
