//! Every PaaS route the operator calls, in one table (`seeds/paas-public-api.txt`).

use crate::http::{Access, Endpoint, Verb};

/// A PaaS route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    ListProjects,
    CreateProject,
    ListSecrets,
    CreateSecret,
    UpdateSecret,
    DeleteSecret,
    ListDatastores(Flavor),
    CreateDatastore(Flavor),
    GetDatastore(Flavor),
    UpdateDatastore(Flavor),
    DeleteDatastore(Flavor),
    StartDatastore(Flavor),
    StopDatastore(Flavor),
    ListServices,
    CreateService,
    UpdateService,
    DeleteService,
    StartService,
    StopService,
    ListDeployments,
    Deploy,
    ListEnv,
    CreateEnv,
    UpdateEnv,
    DeleteEnv,
    ListBindings,
    CreateBinding,
    DeleteBinding,
    ListBuckets,
    CreateBucket,
    UpdateBucket,
    DeleteBucket,
    ListKeys,
    CreateKey,
    DeleteKey,
}

/// The two kinds of data store, whose routes differ only by their prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    Database,
    Redis,
}

impl Route {
    pub const ALL: [Route; 42] = [
        Route::ListBuckets,
        Route::CreateBucket,
        Route::UpdateBucket,
        Route::DeleteBucket,
        Route::ListKeys,
        Route::CreateKey,
        Route::DeleteKey,
        Route::ListServices,
        Route::CreateService,
        Route::UpdateService,
        Route::DeleteService,
        Route::StartService,
        Route::StopService,
        Route::ListDeployments,
        Route::Deploy,
        Route::ListEnv,
        Route::CreateEnv,
        Route::UpdateEnv,
        Route::DeleteEnv,
        Route::ListBindings,
        Route::CreateBinding,
        Route::DeleteBinding,
        Route::ListProjects,
        Route::CreateProject,
        Route::ListSecrets,
        Route::CreateSecret,
        Route::UpdateSecret,
        Route::DeleteSecret,
        Route::ListDatastores(Flavor::Database),
        Route::CreateDatastore(Flavor::Database),
        Route::GetDatastore(Flavor::Database),
        Route::UpdateDatastore(Flavor::Database),
        Route::DeleteDatastore(Flavor::Database),
        Route::StartDatastore(Flavor::Database),
        Route::StopDatastore(Flavor::Database),
        Route::ListDatastores(Flavor::Redis),
        Route::CreateDatastore(Flavor::Redis),
        Route::GetDatastore(Flavor::Redis),
        Route::UpdateDatastore(Flavor::Redis),
        Route::DeleteDatastore(Flavor::Redis),
        Route::StartDatastore(Flavor::Redis),
        Route::StopDatastore(Flavor::Redis),
    ];

    /// Its method, path template and what it does.
    pub const fn endpoint(self) -> Endpoint {
        use Route::*;
        const PROJECTS: &str = "/api/projects";
        const SECRETS: &str = "/api/projects/{project_id}/secrets";
        const SECRET: &str = "/api/projects/{project_id}/secrets/{secret_id}";
        const SERVICES: &str = "/api/web-services";
        const SERVICE: &str = "/api/web-services/{web_service_id}";
        const START: &str = "/api/web-services/{web_service_id}/start";
        const STOP: &str = "/api/web-services/{web_service_id}/stop";
        const DEPLOYMENTS: &str = "/api/web-services/{web_service_id}/deployments";
        const ENV: &str = "/api/web-services/{web_service_id}/env";
        const ENV_VAR: &str = "/api/web-services/{web_service_id}/env/{var_id}";
        const BINDINGS: &str = "/api/web-services/{web_service_id}/secret-bindings";
        const BINDING: &str = "/api/web-services/{web_service_id}/secret-bindings/{binding_id}";
        const BUCKETS: &str = "/api/storage/buckets";
        const BUCKET: &str = "/api/storage/buckets/{bucket_id}";
        const KEYS: &str = "/api/storage/keys";
        const KEY: &str = "/api/storage/keys/{key_id}";
        match self {
            ListProjects => Endpoint::new(Verb::Get, PROJECTS, Access::Read),
            CreateProject => Endpoint::new(Verb::Post, PROJECTS, Access::Create),
            ListSecrets => Endpoint::new(Verb::Get, SECRETS, Access::Read),
            CreateSecret => Endpoint::new(Verb::Post, SECRETS, Access::Create),
            UpdateSecret => Endpoint::new(Verb::Patch, SECRET, Access::Update),
            DeleteSecret => Endpoint::new(Verb::Delete, SECRET, Access::Delete),
            ListDatastores(flavor) => Endpoint::new(Verb::Get, flavor.all(), Access::Read),
            CreateDatastore(flavor) => Endpoint::new(Verb::Post, flavor.all(), Access::Create),
            GetDatastore(flavor) => Endpoint::new(Verb::Get, flavor.one(), Access::Read),
            UpdateDatastore(flavor) => Endpoint::new(Verb::Patch, flavor.one(), Access::Update),
            DeleteDatastore(flavor) => Endpoint::new(Verb::Delete, flavor.one(), Access::Delete),
            StartDatastore(flavor) => Endpoint::new(Verb::Post, flavor.start(), Access::Update),
            StopDatastore(flavor) => Endpoint::new(Verb::Post, flavor.stop(), Access::Update),
            ListServices => Endpoint::new(Verb::Get, SERVICES, Access::Read),
            CreateService => Endpoint::new(Verb::Post, SERVICES, Access::Create),
            UpdateService => Endpoint::new(Verb::Patch, SERVICE, Access::Update),
            DeleteService => Endpoint::new(Verb::Delete, SERVICE, Access::Delete),
            StartService => Endpoint::new(Verb::Post, START, Access::Update),
            StopService => Endpoint::new(Verb::Post, STOP, Access::Update),
            ListDeployments => Endpoint::new(Verb::Get, DEPLOYMENTS, Access::Read),
            Deploy => Endpoint::new(Verb::Post, DEPLOYMENTS, Access::Create),
            ListEnv => Endpoint::new(Verb::Get, ENV, Access::Read),
            CreateEnv => Endpoint::new(Verb::Post, ENV, Access::Create),
            UpdateEnv => Endpoint::new(Verb::Patch, ENV_VAR, Access::Update),
            DeleteEnv => Endpoint::new(Verb::Delete, ENV_VAR, Access::Delete),
            ListBindings => Endpoint::new(Verb::Get, BINDINGS, Access::Read),
            CreateBinding => Endpoint::new(Verb::Post, BINDINGS, Access::Create),
            DeleteBinding => Endpoint::new(Verb::Delete, BINDING, Access::Delete),
            ListBuckets => Endpoint::new(Verb::Get, BUCKETS, Access::Read),
            CreateBucket => Endpoint::new(Verb::Post, BUCKETS, Access::Create),
            UpdateBucket => Endpoint::new(Verb::Patch, BUCKET, Access::Update),
            DeleteBucket => Endpoint::new(Verb::Delete, BUCKET, Access::Delete),
            ListKeys => Endpoint::new(Verb::Get, KEYS, Access::Read),
            CreateKey => Endpoint::new(Verb::Post, KEYS, Access::Create),
            DeleteKey => Endpoint::new(Verb::Delete, KEY, Access::Delete),
        }
    }
}

impl Flavor {
    const fn all(self) -> &'static str {
        match self {
            Flavor::Database => "/api/databases",
            Flavor::Redis => "/api/redis",
        }
    }

    const fn one(self) -> &'static str {
        match self {
            Flavor::Database => "/api/databases/{database_id}",
            Flavor::Redis => "/api/redis/{redis_id}",
        }
    }

    const fn start(self) -> &'static str {
        match self {
            Flavor::Database => "/api/databases/{database_id}/start",
            Flavor::Redis => "/api/redis/{redis_id}/start",
        }
    }

    const fn stop(self) -> &'static str {
        match self {
            Flavor::Database => "/api/databases/{database_id}/stop",
            Flavor::Redis => "/api/redis/{redis_id}/stop",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_its_own_endpoint() {
        for (i, route) in Route::ALL.into_iter().enumerate() {
            for other in &Route::ALL[i + 1..] {
                assert_ne!(route.endpoint(), other.endpoint(), "{route:?} {other:?}");
            }
        }
    }
}
