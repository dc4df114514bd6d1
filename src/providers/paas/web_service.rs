//! PaasWebService: the shared reconcile (the project's id first, one create found again by name
//! and project) plus what changes in place: its settings (PATCH), `suspend`, the env variables
//! it lists (each by key, and with `envPolicy: Exclusive` the others deleted one by one: the bulk
//! PUT may replace the whole set, rewriting secret values the operator cannot read back, see
//! `client::assumed`), its secret bindings
//! ([`secret_bindings`](super::secret_bindings)), and one deployment per new `deploy.revision`,
//! recorded before it is asked for and found again after a lost answer.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};

use crate::api::{
    DeployRequest, DeploymentStatus, EnvPolicy, EnvVar, EnvVarStatus, ManagedStatus, Ownership,
    PaasWebService, PaasWebServiceStatus, Provider,
};
use crate::http::{PortalError, Session};
use crate::reconcile::conditions::Wanted;
use crate::reconcile::context::Context;
use crate::reconcile::error::Error;
use crate::reconcile::kind::{
    Converged, Held, LookUp, PortalKind, external_or_own_name, has_managed_status, managed_fields,
};
use crate::reconcile::recovery::{Recovery, recover, within_lag};
use crate::reconcile::shell::Run;
use crate::reconcile::snapshot::Snapshots;

use super::client::{self as portal, Paas};
use super::values::{self, Source};

has_managed_status!(PaasWebServiceStatus);

impl super::parent::InProject for PaasWebServiceStatus {
    fn project_id(&mut self) -> &mut Option<String> {
        &mut self.project_id
    }
}

impl PortalKind for PaasWebService {
    type Status = PaasWebServiceStatus;
    type Remote = portal::WebService;
    const PROVIDER: Provider = Provider::Paas;
    const NOUN: &'static str = "web service";
    const NAME_FIELD: &'static str = "spec.externalName";
    const NAMES_UNIQUE: bool = false;
    const RENAMES_BY_ID: bool = true;
    const CONVERGES_WHEN_FAILED: bool = true;

    managed_fields!(PaasWebServiceStatus);

    fn wanted_name(&self) -> String {
        external_or_own_name(self.spec.external_name.as_deref(), self)
    }

    fn check_name(name: &str) -> Result<(), Error> {
        super::datastore::check_label(name, "web service")
    }

    fn snapshots(ctx: &Context) -> &Snapshots<portal::WebService> {
        &ctx.state::<super::PaasState>().web_services
    }

    async fn list(
        client: &Session,
        _: &'static str,
    ) -> Result<Vec<portal::WebService>, PortalError> {
        Paas(client).list_services().await
    }

    async fn create(
        &self,
        client: &Session,
        name: &str,
    ) -> Result<Option<portal::WebService>, PortalError> {
        let mut body = settings(self);
        body.insert("name".into(), name.into());
        let project = self.status.as_ref().and_then(|s| s.project_id.clone());
        body.insert("project_id".into(), project.unwrap_or_default().into());
        Paas(client).create_service(&body).await
    }

    async fn delete(
        &self,
        client: &Session,
        _: &str,
        seen: Option<&portal::WebService>,
    ) -> Result<(), PortalError> {
        let recorded = self.status.as_ref().and_then(|s| s.managed.id.as_deref());
        let Some(id) = seen.map(|s| s.id.as_str()).or(recorded) else {
            return Err(PortalError::NotFound { message: None });
        };
        Paas(client).delete_service(id).await
    }

    async fn rename(
        &self,
        client: &Session,
        remote: &portal::WebService,
        name: &str,
    ) -> Result<(), PortalError> {
        let mut body = Map::new();
        body.insert("name".into(), name.into());
        Paas(client).update_service(&remote.id, &body).await
    }

    const LOOK_UP: Option<LookUp<portal::WebService>> = None;

    fn is_candidate(&self, remote: &portal::WebService, name: &str) -> bool {
        let project = self.status.as_ref().and_then(|s| s.project_id.as_deref());
        remote.name == name && project == Some(remote.project_id.as_str())
    }

    fn parent(&self) -> Option<&str> {
        Some(&self.spec.project_ref.name)
    }

    fn remote_name(remote: &portal::WebService) -> &str {
        &remote.name
    }

    fn remote_id(remote: &portal::WebService) -> &str {
        &remote.id
    }

    fn remote_state(remote: &portal::WebService) -> &str {
        &remote.status
    }

    fn describe(&self) -> String {
        format!("({})", self.spec.repository)
    }

    fn check_parameters(&self) -> Result<(), Error> {
        let mut names = std::collections::HashSet::new();
        for var in &self.spec.env {
            if var.value.is_some() == var.value_from.is_some() {
                return Err(invalid(format!(
                    "spec.env: '{}' needs exactly one of value and valueFrom",
                    var.name
                )));
            }
            if !names.insert(var.name.as_str()) {
                return Err(invalid(format!(
                    "spec.env names '{}' twice: keep one",
                    var.name
                )));
            }
        }
        let mut variables = std::collections::HashSet::new();
        for binding in &self.spec.secret_bindings {
            let variable = binding.variable();
            if names.contains(variable) {
                return Err(invalid(format!(
                    "'{variable}' is in spec.env and bound in spec.secretBindings: the env variable would hide the bound secret; rename one of them"
                )));
            }
            if !variables.insert(variable) {
                return Err(invalid(format!(
                    "spec.secretBindings binds '{variable}' twice: keep one"
                )));
            }
        }
        let (min, max) = (self.spec.min_instances, self.spec.max_instances);
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(invalid(format!(
                "spec.minInstances ({min}) is above spec.maxInstances ({max})"
            )));
        }
        Ok(())
    }

    fn drift(&self, _: &portal::WebService) -> Vec<String> {
        Vec::new()
    }

    fn connection(_: &portal::WebService) -> Option<Map<String, Value>> {
        None
    }

    fn mirrored(remote: &portal::WebService, managed: ManagedStatus) -> PaasWebServiceStatus {
        PaasWebServiceStatus {
            managed,
            project_id: Some(remote.project_id.clone()).filter(|id| !id.is_empty()),
            url: remote.url.clone(),
            ..PaasWebServiceStatus::default()
        }
    }

    async fn prepare(
        run: &mut Run<'_, Self>,
    ) -> Result<Option<kube::runtime::controller::Action>, Error> {
        let project = run.object.spec.project_ref.name.clone();
        super::parent::record_project_id(run, &project).await
    }

    async fn converge(
        run: &mut Run<'_, Self>,
        client: &Session,
        held: Held<'_, portal::WebService>,
        status: &mut PaasWebServiceStatus,
    ) -> Result<Converged, Error> {
        let previous = run.status().clone();
        status.env = previous.env.clone();
        status.secret_bindings = previous.secret_bindings.clone();
        status.deployed_revision = previous.deployed_revision.clone();
        status.deploy_requested = previous.deploy_requested.clone();
        status.latest_deployment = previous.latest_deployment.clone();
        if held.ownership == Ownership::Observed {
            return Ok(Converged::default());
        }
        let paas = Paas(client);
        let remote = held.remote;
        if let Some(note) = run_or_update(run, &paas, remote).await? {
            Self::snapshots(run.ctx).outdate(client.fingerprint()).await;
            run.publish(false, "Updating", note.clone()).await;
            return Ok(Converged {
                conditions: vec![Wanted::synced(false, "Updating", note)],
                look_again_within: Some(run.ctx.timing.poll),
            });
        }
        let missing = keep_env(run, &paas, &remote.id, status).await?;
        let unmet = super::secret_bindings::keep(
            &paas,
            &run.object.spec,
            (&remote.id, &remote.project_id),
            &mut status.secret_bindings,
        )
        .await?;
        let waiting = deploy(run, &paas, held, status).await?;
        let latest = paas.deployments(&remote.id).await?;
        status.latest_deployment = latest.first().map(|d| DeploymentStatus {
            id: d.id.clone(),
            status: d.status.clone(),
        });
        let mut converged = Converged::default();
        let mut unsynced = Vec::new();
        if !missing.is_empty() {
            unsynced.push((
                "ValueUnavailable",
                format!(
                    "{}: those variables keep their last value until it is there",
                    missing.join("; ")
                ),
            ));
        }
        if !unmet.missing.is_empty() {
            unsynced.push((
                "ProjectSecretMissing",
                format!(
                    "the project has no secret {}: bound once it exists (looking again every poll)",
                    unmet.missing.join(", ")
                ),
            ));
        }
        if !unmet.taken.is_empty() {
            unsynced.push((
                "VariableTaken",
                format!(
                    "{} already bound at the portal to another secret by a binding this object did not make: remove that binding, or set envPolicy: Exclusive",
                    unmet.taken.join(", ")
                ),
            ));
        }
        if let Some((reason, _)) = unsynced.first() {
            let messages: Vec<&str> = unsynced.iter().map(|(_, m)| m.as_str()).collect();
            converged
                .conditions
                .push(Wanted::synced(false, reason, messages.join("; ")));
        }
        let deploying = status.latest_deployment.as_ref().is_some_and(|d| {
            !matches!(
                d.status.as_str(),
                "live" | "failed" | "cancelled" | "superseded"
            )
        });
        if waiting || deploying || !unmet.missing.is_empty() {
            converged.look_again_within = Some(run.ctx.timing.poll);
        }
        Ok(converged)
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidSpec {
        reason: "InvalidSpec",
        message,
    }
}

/// The settings of the create body and of a PATCH, as the spec has them.
fn settings(object: &PaasWebService) -> Map<String, Value> {
    let spec = &object.spec;
    let mut body = Map::new();
    body.insert("git_repository_url".into(), spec.repository.clone().into());
    body.insert("port".into(), spec.port.into());
    let optional = [
        ("branch", spec.branch.clone().map(Value::from)),
        ("build_command", spec.build_command.clone().map(Value::from)),
        ("min_instances", spec.min_instances.map(Value::from)),
        ("max_instances", spec.max_instances.map(Value::from)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    }
    body
}

/// Stops or starts it, or PATCHes the settings that differ: what was done, if anything.
async fn run_or_update(
    run: &Run<'_, PaasWebService>,
    paas: &Paas<&Session>,
    remote: &portal::WebService,
) -> Result<Option<String>, Error> {
    let suspend = run.object.spec.suspend.unwrap_or(false);
    let stopped = remote.status == "stopped";
    if suspend != stopped {
        let settled = !matches!(
            remote.status.as_str(),
            "stopping" | "starting" | "restarting"
        );
        if !settled {
            return Ok(None);
        }
        paas.run_service(&remote.id, !suspend).await?;
        let verb = if suspend { "stop" } else { "start" };
        return Ok(Some(format!(
            "asked the portal to {verb} the web service '{}'",
            remote.name
        )));
    }
    let changes: Map<String, Value> = settings(run.object)
        .into_iter()
        .filter(|(key, wanted)| remote.settings.get(key) != Some(wanted))
        .collect();
    if changes.is_empty() || stopped {
        return Ok(None);
    }
    paas.update_service(&remote.id, &changes).await?;
    let keys: Vec<&str> = changes.keys().map(String::as_str).collect();
    Ok(Some(format!(
        "changed {} of the web service '{}'",
        keys.join(", "),
        remote.name
    )))
}

fn source(var: &EnvVar) -> Source<'_> {
    match (&var.value, &var.value_from) {
        (Some(value), _) => Source::Literal(value),
        (None, Some(from)) => Source::Secret(&from.secret_key_ref),
        (None, None) => unreachable!("check_parameters refused it"),
    }
}

/// Brings the variables the spec lists to their values, one by one (created, or set where the
/// keyed hash of the value differs from the one written last), and deletes those this object
/// wrote that the spec no longer lists; the others are left alone. Returns why some values
/// could not be had.
async fn keep_env(
    run: &mut Run<'_, PaasWebService>,
    paas: &Paas<&Session>,
    service_id: &str,
    status: &mut PaasWebServiceStatus,
) -> Result<Vec<String>, Error> {
    let object = run.object;
    let exclusive = object.spec.env_policy == Some(EnvPolicy::Exclusive);
    if object.spec.env.is_empty() && status.env.is_empty() && !exclusive {
        return Ok(Vec::new());
    }
    let mut wanted = Vec::new();
    let mut missing = Vec::new();
    for var in &object.spec.env {
        match values::resolve(run.ctx, object, source(var)).await? {
            Ok(value) => {
                let hash = paas.0.keyed_digest(&[&var.name, &value]);
                wanted.push((var.name.as_str(), Some((value, hash))));
            }
            Err(values::Missing(why)) => {
                missing.push(format!("{}: {why}", var.name));
                wanted.push((var.name.as_str(), None));
            }
        }
    }
    let recorded = |status: &PaasWebServiceStatus| -> Vec<(String, String)> {
        status
            .env
            .iter()
            .map(|v| (v.name.clone(), v.value_hash.clone()))
            .collect()
    };
    let mut asked: Vec<(String, String)> = wanted
        .iter()
        .filter_map(|(name, value)| Some(((*name).to_owned(), value.as_ref()?.1.clone())))
        .collect();
    asked.sort();
    if asked != recorded(status) {
        // About to write: decide on the status as stored, not on the watch's copy, which may
        // not show this process's last write yet (the same value would be written twice).
        if run.reread().await?.is_none() {
            return Ok(missing);
        }
        status.env = run.status().env.clone();
    }
    let listed = paas.env(service_id).await?;
    let mut kept = Vec::new();
    for (name, value) in wanted {
        let recorded = status.env.iter().find(|v| v.name == name);
        let Some((value, value_hash)) = value else {
            kept.extend(recorded.cloned());
            continue;
        };
        let id = match listed.iter().find(|v| v.key == name) {
            Some(found)
                if recorded.is_some_and(|r| r.id == found.id && r.value_hash == value_hash) =>
            {
                Some(found.id.clone())
            }
            Some(found) => {
                paas.set_env(service_id, &found.id, &value).await?;
                Some(found.id.clone())
            }
            None => paas
                .add_env(service_id, name, &value)
                .await?
                .map(|created| created.id),
        };
        if let Some(id) = id {
            kept.push(EnvVarStatus {
                name: name.to_owned(),
                id,
                value_hash,
            });
        }
    }
    let listed_by_spec = |key: &str| {
        let spec = &object.spec;
        spec.env.iter().any(|v| v.name == key)
            || spec.secret_bindings.iter().any(|b| b.variable() == key)
    };
    for entry in &listed {
        let made = status.env.iter().any(|v| v.id == entry.id);
        let dropped = made && !object.spec.env.iter().any(|v| v.name == entry.key);
        if dropped || (exclusive && !made && !listed_by_spec(&entry.key)) {
            match paas.delete_env(service_id, &entry.id).await {
                Ok(()) | Err(PortalError::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    kept.sort_by(|a, b| a.name.cmp(&b.name));
    status.env = kept;
    Ok(missing)
}

/// One deployment per new `deploy.revision`: the request is recorded in status before it is
/// sent; after a lost answer the deployments made since are looked at (the shared rule of
/// [`recovery`](crate::reconcile::recovery)), never a second request. `true`: looking again
/// soon.
async fn deploy(
    run: &mut Run<'_, PaasWebService>,
    paas: &Paas<&Session>,
    held: Held<'_, portal::WebService>,
    status: &mut PaasWebServiceStatus,
) -> Result<bool, Error> {
    let service_id = held.remote.id.as_str();
    let wanted = run.object.spec.deploy.as_ref().map(|d| d.revision.clone());
    if status.deployed_revision.is_none() && status.deploy_requested.is_none() {
        // The create deployed what the spec asked for then (the portal deploys on create).
        status.deployed_revision = wanted
            .clone()
            .filter(|_| held.fresh || held.ownership == Ownership::Created);
        if status.deployed_revision.is_some() || wanted.is_none() {
            return Ok(false);
        }
    }
    if let Some(asked) = status.deploy_requested.clone() {
        let deployments = paas.deployments(service_id).await?;
        let since: Vec<&portal::Deployment> = deployments
            .iter()
            .filter(|d| made_since(d, asked.at.0))
            .collect();
        return match recover(&since, within_lag(asked.at.0, run.ctx.timing.list_lag)) {
            Recovery::Found(_) => {
                status.deployed_revision = Some(asked.revision);
                status.deploy_requested = None;
                Ok(false)
            }
            Recovery::Wait => Ok(true),
            Recovery::Unknown => Err(Error::OutcomeUnknown {
                noun: "deployment of revision",
                name: asked.revision,
                seen: if since.is_empty() {
                    "none since the request"
                } else {
                    "several since the request"
                },
            }),
        };
    }
    let Some(revision) = wanted.filter(|w| status.deployed_revision.as_ref() != Some(w)) else {
        return Ok(false);
    };
    let request = DeployRequest {
        revision: revision.clone(),
        at: Time(Timestamp::now()),
    };
    let mut intent = run.status().clone();
    intent.deploy_requested = Some(request.clone());
    run.write(intent).await?;
    match paas.deploy(service_id).await {
        Ok(_) => {
            let note = format!(
                "deployed revision '{revision}' of the web service '{}'",
                held.remote.name
            );
            run.publish(false, "Deployed", note).await;
            status.deployed_revision = Some(revision);
            status.deploy_requested = None;
            Ok(true)
        }
        Err(error) if error.is_refusal() => {
            let mut dropped = run.status().clone();
            dropped.deploy_requested = None;
            run.write(dropped).await?;
            Err(error.into())
        }
        Err(error) => {
            status.deploy_requested = Some(request);
            Err(error.into())
        }
    }
}

/// Made at or after `at` (a deployment's `created_at`, RFC 3339; one without is not counted).
fn made_since(deployment: &portal::Deployment, at: Timestamp) -> bool {
    deployment
        .created_at
        .parse::<Timestamp>()
        .is_ok_and(|created| created >= at)
}
