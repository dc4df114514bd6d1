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
}

impl Route {
    pub const ALL: [Route; 6] = [
        Route::ListProjects,
        Route::CreateProject,
        Route::ListSecrets,
        Route::CreateSecret,
        Route::UpdateSecret,
        Route::DeleteSecret,
    ];

    /// Its method, path template and what it does.
    pub const fn endpoint(self) -> Endpoint {
        use Route::*;
        const PROJECTS: &str = "/api/projects";
        const SECRETS: &str = "/api/projects/{project_id}/secrets";
        const SECRET: &str = "/api/projects/{project_id}/secrets/{secret_id}";
        match self {
            ListProjects => Endpoint::new(Verb::Get, PROJECTS, Access::Read),
            CreateProject => Endpoint::new(Verb::Post, PROJECTS, Access::Create),
            ListSecrets => Endpoint::new(Verb::Get, SECRETS, Access::Read),
            CreateSecret => Endpoint::new(Verb::Post, SECRETS, Access::Create),
            UpdateSecret => Endpoint::new(Verb::Patch, SECRET, Access::Update),
            DeleteSecret => Endpoint::new(Verb::Delete, SECRET, Access::Delete),
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
