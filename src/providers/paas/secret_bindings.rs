//! A PaasWebService's `secretBindings`: project secrets of its project bound to it as env
//! variables, one portal binding each. Bindings are found by their variable (`alias_key`, which
//! the portal keeps unique per service) and recorded by id in status; the document has no route
//! to change a binding, so one pointing elsewhere is deleted and made again.

use crate::api::{EnvPolicy, PaasWebServiceSpec, SecretBindingStatus};
use crate::http::{PortalError, Session};
use crate::reconcile::error::Error;

use super::client::{Paas, ProjectSecret, SecretBinding as Listed};

/// What keeping the bindings found that a person must look at.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unmet {
    /// The bindings whose project secret does not exist (yet): `KEY (scope) as VARIABLE`.
    pub missing: Vec<String>,
    /// Variables held by a binding this object did not make, to another secret.
    pub taken: Vec<String>,
}

/// Brings the bindings the spec lists about (made where missing, made again where they point
/// to another secret) and removes those this object made that the spec no longer lists.
/// Bindings this object did not make are left alone (`exclusive`: deleted), except one to the
/// very secret under the very variable asked for: that is what a create whose answer was lost
/// leaves, and it is taken as this object's. `recorded` becomes what this object holds now; a binding whose secret is
/// missing keeps its record (nothing is lost while waiting for it).
pub async fn keep(
    paas: &Paas<&Session>,
    spec: &PaasWebServiceSpec,
    (service_id, project_id): (&str, &str),
    recorded: &mut Vec<SecretBindingStatus>,
) -> Result<Unmet, Error> {
    let mut unmet = Unmet::default();
    let exclusive = spec.env_policy == Some(EnvPolicy::Exclusive);
    if spec.secret_bindings.is_empty() && recorded.is_empty() && !exclusive {
        return Ok(unmet);
    }
    let listed = paas.bindings(service_id).await?;
    let mut secrets: Option<Vec<ProjectSecret>> = None;
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    for wanted in &spec.secret_bindings {
        let variable = wanted.variable();
        let scope = wanted.scope();
        let record = recorded.iter().find(|r| r.variable == variable);
        let bound = listed.iter().find(|b| b.alias_key == variable);
        if let (Some(record), Some(bound)) = (record, bound)
            && record.id == bound.id
            && record.secret_id == bound.project_secret_id
            && (record.secret.as_str(), record.scope) == (wanted.secret.as_str(), scope)
        {
            kept.push(record.clone());
            continue;
        }
        if secrets.is_none() {
            secrets = Some(paas.list_secrets(project_id).await?);
        }
        let secret = secrets
            .iter()
            .flatten()
            .find(|s| s.key == wanted.secret && s.scope == scope.as_str());
        let Some(secret) = secret else {
            unmet.missing.push(format!(
                "{} ({}) as {variable}",
                wanted.secret,
                scope.as_str()
            ));
            kept.extend(record.cloned());
            continue;
        };
        let id = match bound {
            Some(bound) if bound.project_secret_id == secret.id => Some(bound.id.clone()),
            Some(bound) if exclusive || record.is_some_and(|r| r.id == bound.id) => {
                unbind(paas, service_id, &bound.id).await?;
                removed.push(bound.id.as_str());
                bind(paas, service_id, &secret.id, variable).await?
            }
            Some(_) => {
                unmet.taken.push(variable.to_owned());
                continue;
            }
            None => bind(paas, service_id, &secret.id, variable).await?,
        };
        kept.extend(id.map(|id| SecretBindingStatus {
            variable: variable.to_owned(),
            secret: wanted.secret.clone(),
            scope,
            secret_id: secret.id.clone(),
            id,
        }));
    }
    for dropped in recorded.iter() {
        let still = spec
            .secret_bindings
            .iter()
            .any(|b| b.variable() == dropped.variable);
        if !still && listed.iter().any(|b| b.id == dropped.id) {
            unbind(paas, service_id, &dropped.id).await?;
            removed.push(dropped.id.as_str());
        }
    }
    if exclusive {
        for other in &listed {
            let ours = kept.iter().any(|k| k.id == other.id);
            if !ours && !removed.contains(&other.id.as_str()) {
                unbind(paas, service_id, &other.id).await?;
            }
        }
    }
    kept.sort_by(|a, b| a.variable.cmp(&b.variable));
    *recorded = kept;
    Ok(unmet)
}

/// The new binding's id (`None`: accepted without one; found by its variable next time).
async fn bind(
    paas: &Paas<&Session>,
    service_id: &str,
    secret_id: &str,
    variable: &str,
) -> Result<Option<String>, Error> {
    let made = paas.bind(service_id, secret_id, variable).await?;
    Ok(made.map(|b: Listed| b.id))
}

async fn unbind(paas: &Paas<&Session>, service_id: &str, id: &str) -> Result<(), Error> {
    match paas.unbind(service_id, id).await {
        Ok(()) | Err(PortalError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}
