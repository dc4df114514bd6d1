//! Every portal route the operator calls, in one table.
//!
//! Documented (`seeds/htx-openapi.json`): the database routes and the two product lists.
//! **Assumption** (DESIGN §1): the guide says every portal action has a route under
//! `/api/portal/*` and that `functions`/`proxies` tokens "create and delete that one product", so
//! `POST /api/portal/{functions,proxies}` and `DELETE /api/portal/{functions,proxies}/{name}` are
//! taken to exist, mirroring the database routes. If the portal spells them differently, this file
//! is the only one to change.

use crate::http::{Access, Endpoint, Verb};

/// A portal route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    ListDatabases,
    GetDatabase,
    CreateDatabase,
    DeleteDatabase,
    ListBackups,
    CreateBackup,
    ListFunctions,
    CreateFunction,
    DeleteFunction,
    ListProxies,
    CreateProxy,
    DeleteProxy,
}

impl Route {
    pub const ALL: [Route; 12] = [
        Route::ListDatabases,
        Route::GetDatabase,
        Route::CreateDatabase,
        Route::DeleteDatabase,
        Route::ListBackups,
        Route::CreateBackup,
        Route::ListFunctions,
        Route::CreateFunction,
        Route::DeleteFunction,
        Route::ListProxies,
        Route::CreateProxy,
        Route::DeleteProxy,
    ];

    /// Its method, path template and what it does.
    pub const fn endpoint(self) -> Endpoint {
        use Route::*;
        const DATABASES: &str = "/api/portal/databases";
        const DATABASE: &str = "/api/portal/databases/{name}";
        const BACKUPS: &str = "/api/portal/databases/{name}/backups";
        const FUNCTIONS: &str = "/api/portal/functions";
        const FUNCTION: &str = "/api/portal/functions/{name}";
        const PROXIES: &str = "/api/portal/proxies";
        const PROXY: &str = "/api/portal/proxies/{name}";
        match self {
            ListDatabases => Endpoint::new(Verb::Get, DATABASES, Access::Read),
            GetDatabase => Endpoint::new(Verb::Get, DATABASE, Access::Read),
            CreateDatabase => Endpoint::new(Verb::Post, DATABASES, Access::Create),
            DeleteDatabase => Endpoint::new(Verb::Delete, DATABASE, Access::Delete),
            ListBackups => Endpoint::new(Verb::Get, BACKUPS, Access::Read),
            CreateBackup => Endpoint::new(Verb::Post, BACKUPS, Access::Create),
            ListFunctions => Endpoint::new(Verb::Get, FUNCTIONS, Access::Read),
            CreateFunction => Endpoint::new(Verb::Post, FUNCTIONS, Access::Create),
            DeleteFunction => Endpoint::new(Verb::Delete, FUNCTION, Access::Delete),
            ListProxies => Endpoint::new(Verb::Get, PROXIES, Access::Read),
            CreateProxy => Endpoint::new(Verb::Post, PROXIES, Access::Create),
            DeleteProxy => Endpoint::new(Verb::Delete, PROXY, Access::Delete),
        }
    }

    /// The route of an endpoint of this portal.
    pub fn of(endpoint: &Endpoint) -> Option<Route> {
        Self::ALL
            .into_iter()
            .find(|route| route.endpoint() == *endpoint)
    }

    /// Creates a resource with a caller-chosen name, so a conflict means the name is taken.
    pub fn creates_named(self) -> bool {
        matches!(
            self,
            Route::CreateDatabase | Route::CreateFunction | Route::CreateProxy
        )
    }

    /// The concrete path, with `name` in the template's `{name}`.
    pub fn path(self, name: Option<&str>) -> String {
        self.endpoint().path(name.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_into_one_segment() {
        assert_eq!(
            Route::ListBackups.path(Some("app-db")),
            "/api/portal/databases/app-db/backups"
        );
        assert_eq!(
            Route::DeleteProxy.path(Some("a/b c")),
            "/api/portal/proxies/a%2Fb%20c"
        );
    }

    #[test]
    fn every_route_is_found_again_from_its_endpoint() {
        for route in Route::ALL {
            assert_eq!(Route::of(&route.endpoint()), Some(route));
        }
        assert_eq!(Route::CreateBackup.endpoint().verb, Verb::Post);
        assert_eq!(Route::CreateBackup.endpoint().access, Access::Create);
        assert_eq!(Route::DeleteFunction.endpoint().verb, Verb::Delete);
        assert_eq!(Route::GetDatabase.endpoint().access, Access::Read);
    }
}
