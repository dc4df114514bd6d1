//! The Kubernetes API of the operator: groups `htx.vinacis.com` (HTX and ProviderConfig),
//! `wayscloud.vinacis.com` (WaysCloud) and `paas.vinacis.com` (PaaS), version `v1alpha1`.

pub mod backup;
pub mod backup_schedule;
pub mod common;
pub mod database;
pub mod function;
pub mod paas_bucket;
pub mod paas_datastore;
pub mod paas_project;
pub mod paas_web_service;
pub mod provider_config;
pub mod proxy;
pub mod rules;
pub mod ways_database;
pub mod ways_restore;
pub mod ways_snapshot;

pub use backup::{
    Backup, BackupPhase, BackupSpec, BackupStatus, DatabaseRef, DatabaseSource, DatabaseTarget,
    RequestBaseline,
};
pub use backup_schedule::{BackupSchedule, BackupScheduleSpec, BackupScheduleStatus};
pub use common::{
    DeletionPolicy, FINALIZER, GROUP, LocalSecretRef, ManagedSpec, ManagedStatus, ManagementPolicy,
    Ownership, PAUSED_ANNOTATION, PortalName, ProviderConfigRef, RECONCILE_REQUESTED_ANNOTATION,
    TokenSecretRef,
};
pub use database::{Database, DatabaseSpec, DatabaseStatus, Engine};
pub use function::{Function, FunctionSpec, FunctionStatus};
pub use paas_bucket::{PaasBucket, PaasBucketSpec, PaasBucketStatus};
pub use paas_datastore::{
    DatastoreSpec, PaasDatabase, PaasDatabaseSpec, PaasDatastoreStatus, PaasRedis, PaasRedisSpec,
    ProjectRef,
};
pub use paas_project::{
    PAAS_GROUP, PaasProject, PaasProjectSpec, PaasProjectStatus, ProjectSecret,
    ProjectSecretStatus, SecretKeyRef, SecretScope, ValueSource,
};
pub use paas_web_service::{
    DeployRequest, DeploySpec, DeploymentStatus, EnvPolicy, EnvVar, EnvVarStatus, PaasWebService,
    PaasWebServiceSpec, PaasWebServiceStatus, SecretBinding, SecretBindingStatus,
};
pub use provider_config::{
    CredentialsSecretRef, Provider, ProviderConfig, ProviderConfigSpec, ProviderConfigStatus,
};
pub use proxy::{Proxy, ProxySpec, ProxyStatus, ProxyType};
pub use ways_database::{
    BackupFrequency, BackupPolicy, CredentialsSpec, DbType, FirewallRuleStatus, FirewallSource,
    PASSWORD_SET_ANNOTATION, WAYS_GROUP, WaysDatabase, WaysDatabaseSpec, WaysDatabaseStatus,
};
pub use ways_restore::{RestorePhase, WaysRestore, WaysRestoreSpec, WaysRestoreStatus};
pub use ways_snapshot::{
    SnapshotPhase, WaysDatabaseSource, WaysDatabaseTarget, WaysObjectRef, WaysSnapshot,
    WaysSnapshotSpec, WaysSnapshotStatus,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD the operator serves, in the order `htx-operator crds` prints them, with their
/// validation rules (see [`rules`]).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        ProviderConfig::crd(),
        Database::crd(),
        Function::crd(),
        Proxy::crd(),
        Backup::crd(),
        BackupSchedule::crd(),
        WaysDatabase::crd(),
        WaysSnapshot::crd(),
        WaysRestore::crd(),
        PaasProject::crd(),
        PaasDatabase::crd(),
        PaasRedis::crd(),
        PaasWebService::crd(),
        PaasBucket::crd(),
    ]
}

/// The CRDs for API servers before Kubernetes 1.25, which do not know validation rules:
/// `htx-operator crds --without-rules`.
pub fn crds_without_rules() -> Vec<CustomResourceDefinition> {
    crds().into_iter().map(rules::without_rules).collect()
}

/// Each CRD as YAML with the file name it has under `crds/` (`<plural>.<group>.yaml`).
pub fn crd_files(crds: &[CustomResourceDefinition]) -> Vec<(String, String)> {
    crds.iter()
        .map(|crd| {
            let name = format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or_default());
            let yaml = serde_norway::to_string(crd).expect("a CRD always serializes");
            (name, yaml)
        })
        .collect()
}

/// The CRDs as one multi-document YAML stream (`htx-operator crds`).
pub fn crds_yaml(crds: &[CustomResourceDefinition]) -> String {
    crd_files(crds)
        .into_iter()
        .map(|(_, yaml)| yaml)
        .collect::<Vec<_>>()
        .join("---\n")
}
