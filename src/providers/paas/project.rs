//! PaasProject: the shared reconcile (intent before the create, found again by name after a lost
//! answer, never a second create, no deletion: the API has no route for it) plus the project
//! secrets the spec lists, kept at their values by a keyed hash in status.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::api::{
    ManagedStatus, Ownership, PaasProject, PaasProjectStatus, ProjectSecret, ProjectSecretStatus,
    Provider,
};
use crate::http::{PortalError, Session};
use crate::reconcile::conditions::Wanted;
use crate::reconcile::context::Context;
use crate::reconcile::error::Error;
use crate::reconcile::kind::{
    Converged, Held, LookUp, PortalKind, external_or_own_name, has_managed_status, managed_fields,
};
use crate::reconcile::shell::Run;
use crate::reconcile::snapshot::Snapshots;

use super::client::{self as portal, NewProject, NewSecret, Paas};
use super::values::{self, Source};

has_managed_status!(PaasProjectStatus);

impl PortalKind for PaasProject {
    type Status = PaasProjectStatus;
    type Remote = portal::Project;
    const PROVIDER: Provider = Provider::Paas;
    const NOUN: &'static str = "project";
    const NAME_FIELD: &'static str = "spec.externalName";
    const NAMES_UNIQUE: bool = false;
    const CAN_DELETE: bool = false;

    managed_fields!(PaasProjectStatus);

    fn wanted_name(&self) -> String {
        external_or_own_name(self.spec.external_name.as_deref(), self)
    }

    fn check_name(name: &str) -> Result<(), Error> {
        let valid = (1..=100).contains(&name.chars().count())
            && name.trim() == name
            && !name.chars().any(char::is_control);
        if valid {
            return Ok(());
        }
        Err(Error::InvalidSpec {
            reason: "InvalidName",
            message: format!(
                "'{name}' is not a valid project name (1 to 100 characters, no control characters, not starting or ending with a space): set spec.externalName to one"
            ),
        })
    }

    fn snapshots(ctx: &Context) -> &Snapshots<portal::Project> {
        &ctx.state::<super::PaasState>().projects
    }

    async fn list(client: &Session, _: &'static str) -> Result<Vec<portal::Project>, PortalError> {
        Paas(client).list_projects().await
    }

    async fn create(
        &self,
        client: &Session,
        name: &str,
    ) -> Result<Option<portal::Project>, PortalError> {
        let body = NewProject {
            name,
            description: self.spec.description.as_deref(),
        };
        Paas(client).create_project(&body).await
    }

    async fn delete(
        &self,
        _: &Session,
        _: &str,
        _: Option<&portal::Project>,
    ) -> Result<(), PortalError> {
        unreachable!("CAN_DELETE is false: a project's object is released as orphaned")
    }

    const LOOK_UP: Option<LookUp<portal::Project>> = None;

    fn remote_name(remote: &portal::Project) -> &str {
        &remote.name
    }

    fn remote_id(remote: &portal::Project) -> &str {
        &remote.id
    }

    /// Projects have no life cycle: one the portal lists is usable.
    fn remote_state(_: &portal::Project) -> &str {
        "active"
    }

    fn describe(&self) -> String {
        String::new()
    }

    fn check_parameters(&self) -> Result<(), Error> {
        let mut seen = HashSet::new();
        for secret in &self.spec.secrets {
            if secret.value.is_some() == secret.value_from.is_some() {
                return Err(invalid(format!(
                    "spec.secrets: '{}' ({}) needs exactly one of value and valueFrom",
                    secret.key,
                    secret.scope.as_str()
                )));
            }
            if !seen.insert((secret.key.as_str(), secret.scope)) {
                return Err(invalid(format!(
                    "spec.secrets names '{}' ({}) twice: keep one",
                    secret.key,
                    secret.scope.as_str()
                )));
            }
        }
        Ok(())
    }

    fn drift(&self, remote: &portal::Project) -> Vec<String> {
        match &self.spec.description {
            Some(wanted) if remote.description.as_deref().unwrap_or_default() != wanted => {
                vec!["spec.description differs from the project's".to_owned()]
            }
            _ => Vec::new(),
        }
    }

    fn connection(_: &portal::Project) -> Option<Map<String, Value>> {
        None
    }

    fn mirrored(remote: &portal::Project, managed: ManagedStatus) -> PaasProjectStatus {
        PaasProjectStatus {
            managed,
            description: remote.description.clone(),
            secrets: Vec::new(),
        }
    }

    async fn converge(
        run: &mut Run<'_, Self>,
        client: &Session,
        held: Held<'_, portal::Project>,
        status: &mut PaasProjectStatus,
    ) -> Result<Converged, Error> {
        status.secrets = run.status().secrets.clone();
        let nothing_kept = run.object.spec.secrets.is_empty() && status.secrets.is_empty();
        if nothing_kept || held.ownership == Ownership::Observed {
            return Ok(Converged::default());
        }
        let missing = keep_secrets(run, client, &held.remote.id, status).await?;
        let mut converged = Converged::default();
        if !missing.is_empty() {
            converged.conditions.push(Wanted::synced(
                false,
                "ValueUnavailable",
                format!(
                    "{}: those project secrets keep their last value until it is there",
                    missing.join("; ")
                ),
            ));
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

fn source(secret: &ProjectSecret) -> Source<'_> {
    match (&secret.value, &secret.value_from) {
        (Some(value), _) => Source::Literal(value),
        (None, Some(from)) => Source::Secret(&from.secret_key_ref),
        (None, None) => unreachable!("check_parameters refused it"),
    }
}

/// Brings the project secrets the spec lists to their values (created, or set where the hash
/// of the value differs from the one written last), and deletes those this object wrote that the
/// spec no longer lists. Returns why some values could not be had.
async fn keep_secrets(
    run: &mut Run<'_, PaasProject>,
    client: &Session,
    project_id: &str,
    status: &mut PaasProjectStatus,
) -> Result<Vec<String>, Error> {
    let object = run.object;
    let paas = Paas(client);
    let mut wanted = Vec::new();
    let mut missing = Vec::new();
    for secret in &object.spec.secrets {
        let (key, scope) = (secret.key.as_str(), secret.scope);
        match values::resolve(run.ctx, object, source(secret)).await? {
            Ok(value) => {
                let hash = client.keyed_digest(&[key, scope.as_str(), &value]);
                wanted.push((key, scope, Some((value, hash))));
            }
            Err(values::Missing(why)) => {
                missing.push(format!("{key} ({}): {why}", scope.as_str()));
                wanted.push((key, scope, None));
            }
        }
    }
    let in_step = |status: &PaasProjectStatus| {
        wanted.iter().all(|(key, scope, value)| {
            value.as_ref().is_none_or(|(_, hash)| {
                status
                    .secrets
                    .iter()
                    .any(|s| s.key == *key && s.scope == *scope && s.value_hash == *hash)
            })
        })
    };
    if !in_step(status) {
        // About to write: decide on the status as stored, not on the watch's copy, which may
        // not show this process's last write yet (the same value would be written twice).
        if run.reread().await?.is_none() {
            return Ok(missing);
        }
        status.secrets = run.status().secrets.clone();
    }
    let listed = paas.list_secrets(project_id).await?;
    let mut kept = Vec::new();
    for (key, scope, value) in wanted {
        let recorded = status
            .secrets
            .iter()
            .find(|s| s.key == key && s.scope == scope);
        let Some((value, value_hash)) = value else {
            kept.extend(recorded.cloned());
            continue;
        };
        let at_portal = listed
            .iter()
            .find(|s| s.key == key && s.scope == scope.as_str());
        let id = match at_portal {
            Some(found)
                if recorded.is_some_and(|r| r.id == found.id && r.value_hash == value_hash) =>
            {
                Some(found.id.clone())
            }
            Some(found) => {
                paas.set_secret(project_id, &found.id, &value).await?;
                Some(found.id.clone())
            }
            None => {
                let body = NewSecret {
                    key,
                    value: &value,
                    scope: scope.as_str(),
                    is_secret: true,
                };
                // Without an id in the answer, the next look finds it listed and sets it once.
                paas.create_secret(project_id, &body)
                    .await?
                    .map(|created| created.id)
            }
        };
        if let Some(id) = id {
            kept.push(ProjectSecretStatus {
                key: key.to_owned(),
                scope,
                id,
                value_hash,
            });
        }
    }
    for dropped in &status.secrets {
        let still_wanted = object
            .spec
            .secrets
            .iter()
            .any(|s| s.key == dropped.key && s.scope == dropped.scope);
        if !still_wanted && listed.iter().any(|s| s.id == dropped.id) {
            match paas.delete_secret(project_id, &dropped.id).await {
                Ok(()) | Err(PortalError::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    kept.sort_by(|a, b| (&a.key, a.scope).cmp(&(&b.key, b.scope)));
    status.secrets = kept;
    Ok(missing)
}
