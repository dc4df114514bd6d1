//! Every portal route the operator calls, in one table.
//!
//! Documented (`seeds/htx-openapi.json`): the database routes and the two product lists.
//! **Assumption** (DESIGN §1): the guide says every portal action has a route under
//! `/api/portal/*` and that `functions`/`proxies` tokens "create and delete that one product", so
//! `POST /api/portal/{functions,proxies}` and `DELETE /api/portal/{functions,proxies}/{name}` are
//! taken to exist, mirroring the database routes. If the portal spells them differently, this file
//! is the only one to change.

use reqwest::Method;

/// A portal route: its method, its path template (a bounded metric label) and whether it writes.
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

/// What a request does, which decides its priority at the limiter and how it may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Create,
    Delete,
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

    pub fn method(self) -> Method {
        match self.access() {
            Access::Read => Method::GET,
            Access::Create => Method::POST,
            Access::Delete => Method::DELETE,
        }
    }

    pub fn access(self) -> Access {
        use Route::*;
        match self {
            ListDatabases | GetDatabase | ListBackups | ListFunctions | ListProxies => Access::Read,
            CreateDatabase | CreateBackup | CreateFunction | CreateProxy => Access::Create,
            DeleteDatabase | DeleteFunction | DeleteProxy => Access::Delete,
        }
    }

    /// Creates a resource with a caller-chosen name, so a conflict means the name is taken.
    pub fn creates_named(self) -> bool {
        matches!(
            self,
            Route::CreateDatabase | Route::CreateFunction | Route::CreateProxy
        )
    }

    /// The path template, e.g. `/api/portal/databases/{name}`.
    pub fn template(self) -> &'static str {
        use Route::*;
        match self {
            ListDatabases | CreateDatabase => "/api/portal/databases",
            GetDatabase | DeleteDatabase => "/api/portal/databases/{name}",
            ListBackups | CreateBackup => "/api/portal/databases/{name}/backups",
            ListFunctions | CreateFunction => "/api/portal/functions",
            DeleteFunction => "/api/portal/functions/{name}",
            ListProxies | CreateProxy => "/api/portal/proxies",
            DeleteProxy => "/api/portal/proxies/{name}",
        }
    }

    /// The concrete path, with `name` percent-encoded into the template when it has a `{name}`.
    pub fn path(self, name: Option<&str>) -> String {
        let template = self.template();
        match name {
            Some(name) => template.replace("{name}", &percent_encode(name)),
            None => template.to_owned(),
        }
    }
}

/// Percent-encodes text for one URL path segment or userinfo part (RFC 3986 unreserved
/// characters pass through).
pub fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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
    fn writes_are_posts_and_deletes() {
        assert_eq!(Route::CreateBackup.method(), Method::POST);
        assert_eq!(Route::CreateBackup.access(), Access::Create);
        assert_eq!(Route::DeleteFunction.method(), Method::DELETE);
        assert_eq!(Route::ListBackups.method(), Method::GET);
        assert_eq!(Route::GetDatabase.access(), Access::Read);
    }
}
