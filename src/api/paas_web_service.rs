//! `PaasWebService`: a web service of a PaaS project, its env and its deployments.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ManagedSpec, ManagedStatus};
use super::paas_datastore::{NAME_IS_A_PAAS_LABEL, ProjectRef};
use super::paas_project::{SecretScope, ValueSource};
use super::rules::{exactly_one_of, immutable};

/// Admission rule: a bound secret's variable (`as`, else `secret`) is not also in `spec.env`
/// (the portal would let the env variable shadow it). `as` is a CEL keyword, escaped `__as__`.
pub const ALIAS_IS_NO_ENV_NAME: (&str, &str) = (
    concat!(
        "!has(self.spec.secretBindings) || !has(self.spec.env) || self.spec.secretBindings.all(b, ",
        "!self.spec.env.exists(e, e.name == (has(b.__as__) ? b.__as__ : b.secret)))"
    ),
    "a variable of spec.secretBindings (its 'as', else its 'secret') is also named in spec.env: the env variable would hide the bound secret; rename one of them",
);

/// A web service built from a Git repository and deployed at the PaaS. The operator creates it
/// (its first deployment comes with the create), keeps its instances, `suspend` and the env
/// variables it lists, and makes exactly one deployment for each new `deploy.revision`.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "paas.vinacis.com",
    version = "v1alpha1",
    kind = "PaasWebService",
    validation = NAME_IS_A_PAAS_LABEL,
    validation = ALIAS_IS_NO_ENV_NAME,
    namespaced,
    status = "PaasWebServiceStatus",
    shortname = "paasweb",
    category = "paas",
    doc = "A PaaS web service, its env and its deployments, kept in step with the PaaS public API.",
    printcolumn = r#"{"name":"Project","type":"string","jsonPath":".spec.projectRef.name"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.deployedRevision"}"#,
    printcolumn = r#"{"name":"Deployment","type":"string","jsonPath":".status.latestDeployment.status"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PaasWebServiceSpec {
    /// The PaasProject (in this namespace) it belongs to, once it is Ready. Cannot change.
    #[x_kube(validation = immutable(
        "projectRef cannot change: a web service does not move to another project; create a new object instead"
    ))]
    pub project_ref: ProjectRef,

    /// Its name at the portal. Defaults to `metadata.name` (a DNS label). A change renames the
    /// web service (bound by its id) in place, unless another web service of the project has
    /// that name (`AlreadyExists`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
    )]
    pub external_name: Option<String>,

    /// The Git repository (https) it is built from. Changed in place.
    #[schemars(length(min = 9, max = 2048), regex(pattern = r"^https://\S+$"))]
    pub repository: String,

    /// The branch deployed (default: the portal's, `main`). Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub branch: Option<String>,

    /// The port the service listens on.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,

    /// The build command. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub build_command: Option<String>,

    /// Fewest and most instances (1 to 10), changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub min_instances: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub max_instances: Option<u32>,

    /// `true` stops it; `false` starts it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// Env variables this object keeps (the portal's other variables are left alone, unless
    /// `envPolicy: Exclusive`). A value
    /// from a Secret follows that Secret. A change reaches the running service at its next
    /// deployment (the portal does not redeploy by itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    #[x_kube(validation = (
        "self.all(v, self.exists_one(w, w.name == v.name))",
        "each name appears once in spec.env"
    ))]
    pub env: Vec<EnvVar>,

    /// Project secrets of its project bound to it as env variables (a binding each). Bindings
    /// this object did not make are left alone (unless `envPolicy: Exclusive`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[x_kube(validation = (
        "self.all(b, self.exists_one(c, (has(c.__as__) ? c.__as__ : c.secret) == (has(b.__as__) ? b.__as__ : b.secret)))",
        "each variable ('as', else 'secret') appears once in spec.secretBindings"
    ))]
    pub secret_bindings: Vec<SecretBinding>,

    /// `Merge` (the default): the variables of `env` and the bindings of `secretBindings` are
    /// kept, the service's others left alone. `Exclusive`: this object owns the service's whole
    /// env: variables not in `env` nor bound by `secretBindings`, and bindings this object did
    /// not make, are deleted (one by one: the bulk PUT would rewrite values it cannot read back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "EnvPolicy")]
    pub env_policy: Option<EnvPolicy>,

    /// Each new `revision` makes exactly one deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeploySpec>,

    #[serde(flatten)]
    pub managed: ManagedSpec,
}

/// One env variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = exactly_one_of("value", "valueFrom", "set exactly one of value and valueFrom"))]
pub struct EnvVar {
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")
    )]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueSource>,
}

/// Whose the service's env is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum EnvPolicy {
    /// Only what the spec lists is this object's.
    #[default]
    Merge,
    /// The whole env (variables and bindings) is this object's.
    Exclusive,
}

/// A project secret bound to the service as an env variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretBinding {
    /// The key of a secret of the service's project (a PaasProject's `spec.secrets`, or one
    /// made at the portal). A missing one is waited for (`Synced=False`,
    /// `reason=ProjectSecretMissing`).
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")
    )]
    pub secret: String,
    /// Which of its scopes (default `production`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "SecretScope")]
    pub scope: Option<SecretScope>,
    /// The env variable it is bound as (default: the key).
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")
    )]
    pub alias: Option<String>,
}

impl SecretBinding {
    /// The env variable it is bound as.
    pub fn variable(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.secret)
    }

    pub fn scope(&self) -> SecretScope {
        self.scope.unwrap_or(SecretScope::Production)
    }
}

/// What to deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeploySpec {
    /// Any new value deploys once (a commit, a build number, a timestamp).
    #[schemars(length(min = 1, max = 100))]
    pub revision: String,
}

/// What the operator last saw at the portal, and the conditions `Ready` (the latest deployment
/// is live) and `Synced`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaasWebServiceStatus {
    #[serde(flatten)]
    pub managed: ManagedStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Where the service answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The env variables this object keeps, as last written (a keyed hash of each value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVarStatus>,
    /// The secret bindings this object made, by variable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_bindings: Vec<SecretBindingStatus>,
    /// The `deploy.revision` whose deployment was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_revision: Option<String>,
    /// A deployment asked for (this revision, at this time) whose answer is not known yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_requested: Option<DeployRequest>,
    /// The newest deployment and its state (`queued`, `building`, `deploying`, `live`, `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_deployment: Option<DeploymentStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarStatus {
    pub name: String,
    pub id: String,
    pub value_hash: String,
}

/// A secret binding this object made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretBindingStatus {
    /// The env variable (`alias_key`).
    pub variable: String,
    /// The project secret's key.
    pub secret: String,
    /// The project secret's scope.
    pub scope: SecretScope,
    /// The project secret's id.
    pub secret_id: String,
    /// The binding's id.
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeployRequest {
    pub revision: String,
    pub at: Time,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentStatus {
    pub id: String,
    pub status: String,
}
