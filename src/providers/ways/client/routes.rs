//! Every WaysCloud route the operator calls, in one table (`seeds/wayscloud-databases-api.txt`).

use crate::http::{Access, Endpoint, Verb};

/// A WaysCloud route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Quota,
    ListDatabases,
    CreateDatabase,
    UpdateDatabase,
    DeleteDatabase,
    Info,
    RotateCredentials,
    ListFirewall,
    AddFirewallRule,
    DeleteFirewallRule,
    GetBackupPolicy,
    SetBackupPolicy,
    ListSnapshots,
    CreateSnapshot,
    DeleteSnapshot,
    Restore,
}

impl Route {
    pub const ALL: [Route; 16] = [
        Route::Quota,
        Route::ListDatabases,
        Route::CreateDatabase,
        Route::UpdateDatabase,
        Route::DeleteDatabase,
        Route::Info,
        Route::RotateCredentials,
        Route::ListFirewall,
        Route::AddFirewallRule,
        Route::DeleteFirewallRule,
        Route::GetBackupPolicy,
        Route::SetBackupPolicy,
        Route::ListSnapshots,
        Route::CreateSnapshot,
        Route::DeleteSnapshot,
        Route::Restore,
    ];

    /// Its method, path template and what it does.
    pub const fn endpoint(self) -> Endpoint {
        use Route::*;
        const DATABASE: &str = "/v1/databases/{db_type}/{db_name}";
        const FIREWALL: &str = "/v1/databases/{db_type}/{db_name}/firewall";
        const POLICY: &str = "/v1/databases/{db_type}/{db_name}/backup-policy";
        const SNAPSHOTS: &str = "/v1/databases/{db_type}/{db_name}/snapshots";
        match self {
            Quota => Endpoint::new(Verb::Get, "/v1/quota", Access::Read),
            ListDatabases => Endpoint::new(Verb::Get, "/v1/databases/{db_type}", Access::Read),
            CreateDatabase => Endpoint::new(Verb::Post, "/v1/databases", Access::Create),
            UpdateDatabase => Endpoint::new(Verb::Patch, DATABASE, Access::Update),
            DeleteDatabase => Endpoint::new(Verb::Delete, DATABASE, Access::Delete),
            Info => Endpoint::new(
                Verb::Get,
                "/v1/databases/{db_type}/{db_name}/info",
                Access::Read,
            ),
            RotateCredentials => Endpoint::new(
                Verb::Post,
                "/v1/databases/{db_type}/{db_name}/credentials/rotate",
                Access::Update,
            ),
            ListFirewall => Endpoint::new(Verb::Get, FIREWALL, Access::Read),
            AddFirewallRule => Endpoint::new(Verb::Post, FIREWALL, Access::Create),
            DeleteFirewallRule => Endpoint::new(
                Verb::Delete,
                "/v1/databases/{db_type}/{db_name}/firewall/{rule_id}",
                Access::Delete,
            ),
            GetBackupPolicy => Endpoint::new(Verb::Get, POLICY, Access::Read),
            SetBackupPolicy => Endpoint::new(Verb::Put, POLICY, Access::Update),
            ListSnapshots => Endpoint::new(Verb::Get, SNAPSHOTS, Access::Read),
            CreateSnapshot => Endpoint::new(Verb::Post, SNAPSHOTS, Access::Create),
            DeleteSnapshot => Endpoint::new(
                Verb::Delete,
                "/v1/databases/{db_type}/{db_name}/snapshots/{snapshot_id}",
                Access::Delete,
            ),
            Restore => Endpoint::new(
                Verb::Post,
                "/v1/databases/{db_type}/{db_name}/restore",
                Access::Create,
            ),
        }
    }

    /// The route of an endpoint of this portal.
    pub fn of(endpoint: &Endpoint) -> Option<Route> {
        Self::ALL
            .into_iter()
            .find(|route| route.endpoint() == *endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_its_own_endpoint() {
        for route in Route::ALL {
            assert_eq!(Route::of(&route.endpoint()), Some(route), "{route:?}");
        }
    }
}
