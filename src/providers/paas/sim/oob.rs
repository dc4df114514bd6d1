//! Out-of-band changes, as someone in the web UI makes them: creates (through the API's own
//! rules, for the account that owns the parent), deletes without conditions (a project too),
//! changes that pin a status or end a deployment, and the whole state with values in clear.

use serde_json::{Value, json};

use super::body::Fields;
use super::deployments::Outcome;
use super::error::{ApiError, SimError};
use super::lifecycle::Phase;
use super::model::Kind;
use super::store::Store;

/// Pins `status` if the body gives one.
fn pin_status(phase: &mut Phase, f: Fields<'_>) -> Result<(), ApiError> {
    if let Some(status) = f.opt_str("status")? {
        if status.is_empty() {
            return Err(ApiError::bad_request("status must not be empty"));
        }
        phase.pin(status.to_owned());
    }
    Ok(())
}

fn missing(kind: Kind, id: &str) -> SimError {
    SimError::NotFound(format!("{} {id} not found", kind.singular()))
}

impl Store {
    fn project_account(&self, id: &str) -> Result<String, ApiError> {
        self.projects
            .get(id)
            .map(|p| p.account.clone())
            .ok_or_else(|| ApiError::not_found("project", id))
    }

    fn service_account(&self, id: &str) -> Result<String, ApiError> {
        let svc = self
            .services
            .get(id)
            .ok_or_else(|| ApiError::not_found("web service", id))?;
        self.project_account(&svc.project_id)
    }

    /// Creates as the API does, for the account named (`account`: projects, buckets, keys) or
    /// owning the parent (`project_id` or `web_service_id`).
    pub fn create_oob(&mut self, kind: Kind, body: &Value, now: u64) -> Result<Value, SimError> {
        let f = Fields::of(body)?;
        let created = match kind {
            Kind::Projects | Kind::Buckets | Kind::StorageKeys => {
                let account = f.str("account")?;
                match kind {
                    Kind::Projects => self.create_project(account, body, now),
                    Kind::Buckets => self.create_bucket(account, body, now),
                    _ => self.create_key(account, body, now),
                }
            }
            Kind::ProjectSecrets | Kind::WebServices | Kind::Databases | Kind::Redis => {
                let project_id = f.str("project_id")?;
                let account = self.project_account(project_id)?;
                match kind {
                    Kind::ProjectSecrets => self.create_secret(&account, project_id, body, now),
                    Kind::WebServices => self.create_service(&account, body, now),
                    _ => self.create_datastore(&account, kind, body, now),
                }
            }
            Kind::Deployments | Kind::EnvVars | Kind::SecretBindings => {
                let service_id = f.str("web_service_id")?;
                let account = self.service_account(service_id)?;
                match kind {
                    Kind::Deployments => self.create_deployment(&account, service_id, body, now),
                    Kind::EnvVars => self.add_var(&account, service_id, body, now),
                    _ => self.add_binding(&account, service_id, body, now),
                }
            }
        };
        Ok(created?)
    }

    /// Deletes at once and without conditions, with what belongs to it.
    pub fn delete_oob(&mut self, kind: Kind, id: &str) -> Result<(), SimError> {
        let found = match kind {
            Kind::Projects => self.remove_project(id),
            Kind::ProjectSecrets => {
                let found = self.secrets.remove(id).is_some();
                self.bindings.retain(|b| b.secret_id != id);
                found
            }
            Kind::WebServices => {
                let found = self.services.get(id).is_some();
                self.remove_service(id);
                found
            }
            Kind::Deployments => self.deployments.remove(id).is_some(),
            Kind::EnvVars => self.env.remove(id).is_some(),
            Kind::SecretBindings => self.bindings.remove(id).is_some(),
            Kind::Databases | Kind::Redis => {
                let ours = self.datastores.get(id).is_some_and(|d| d.kind() == kind);
                ours && self.datastores.remove(id).is_some()
            }
            Kind::Buckets => self.buckets.remove(id).is_some(),
            Kind::StorageKeys => self.keys.remove(id).is_some(),
        };
        found.then_some(()).ok_or_else(|| missing(kind, id))
    }

    fn remove_project(&mut self, id: &str) -> bool {
        if self.projects.remove(id).is_none() {
            return false;
        }
        let services: Vec<String> = self
            .services
            .iter()
            .filter(|s| s.project_id == id)
            .map(|s| s.id.clone())
            .collect();
        for service in services {
            self.remove_service(&service);
        }
        let secrets = self.secrets.retain(|s| s.project_id != id);
        self.bindings.retain(|b| !secrets.contains(&b.secret_id));
        self.datastores.retain(|d| d.project_id != id);
        true
    }

    /// Changes what the body gives: the fields the API could change (without its state rules),
    /// `status` (pinned, for services, databases, redis and buckets), `outcome` (deployments).
    pub fn modify_oob(
        &mut self,
        kind: Kind,
        id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, SimError> {
        let f = Fields::of(body)?;
        match kind {
            Kind::Projects => {
                let p = self.projects.get_mut(id).ok_or_else(|| missing(kind, id))?;
                p.apply(f)?;
                p.updated_ms = now;
                Ok(p.view())
            }
            Kind::ProjectSecrets => {
                let project_id = self
                    .secrets
                    .get(id)
                    .ok_or_else(|| missing(kind, id))?
                    .project_id
                    .clone();
                let account = self.project_account(&project_id)?;
                Ok(self.patch_secret(&account, &project_id, id, body, now)?)
            }
            Kind::EnvVars => {
                let service_id = self
                    .env
                    .get(id)
                    .ok_or_else(|| missing(kind, id))?
                    .service_id
                    .clone();
                let account = self.service_account(&service_id)?;
                Ok(self.patch_var(&account, &service_id, id, body, now)?)
            }
            Kind::WebServices => {
                let svc = self.services.get_mut(id).ok_or_else(|| missing(kind, id))?;
                svc.apply(f)?;
                pin_status(&mut svc.run, f)?;
                svc.updated_ms = now;
                let svc = self.services.get(id).expect("found above");
                Ok(self.service_view(svc, now))
            }
            Kind::Deployments => {
                let outcome: Outcome = match f.opt_str("outcome")? {
                    Some(o) => serde_json::from_value(json!(o))
                        .map_err(|_| SimError::Invalid("outcome must be live or failed".into()))?,
                    None => return Err(SimError::Invalid("give \"outcome\"".into())),
                };
                let d = self.deployments.get(id).ok_or_else(|| missing(kind, id))?;
                let service_id = d.service_id.clone();
                let account = self.service_account(&service_id)?;
                self.set_outcome(id, outcome);
                Ok(self.get_deployment(&account, &service_id, id, now)?)
            }
            Kind::Databases | Kind::Redis => {
                let d = self
                    .datastores
                    .get_mut(id)
                    .filter(|d| d.kind() == kind)
                    .ok_or_else(|| missing(kind, id))?;
                d.spec.patch(f)?;
                if let Some(name) = f.opt_str("name")? {
                    d.name = name.to_owned();
                }
                pin_status(&mut d.phase, f)?;
                d.updated_ms = now;
                Ok(d.view(now, true))
            }
            Kind::Buckets => {
                let b = self.buckets.get_mut(id).ok_or_else(|| missing(kind, id))?;
                if let Some(public) = f.opt_bool("public")? {
                    b.spec.public = public;
                }
                pin_status(&mut b.phase, f)?;
                b.updated_ms = now;
                Ok(b.view(now))
            }
            Kind::SecretBindings | Kind::StorageKeys => Err(SimError::Invalid(format!(
                "a {} cannot be changed: delete it and create another",
                kind.singular()
            ))),
        }
    }

    /// Everything, secrets in clear, with the ids of parents and accounts.
    pub fn state(&self, now: u64) -> Value {
        let with = |mut v: Value, key: &str, value: &str| {
            v[key] = json!(value);
            v
        };
        let all = |views: Vec<Value>| Value::Array(views);
        json!({
            "projects": all(self.projects.iter().map(|p| with(p.view(), "account", &p.account)).collect()),
            "project_secrets": all(self.secrets.iter().map(|s| s.view(true)).collect()),
            "web_services": all(self.services.iter().map(|s| self.service_view(s, now)).collect()),
            "deployments": all(self.deployments.iter().map(|d| self.deployment_view(d, now)).collect()),
            "env_vars": all(self.env.iter().map(|v| with(v.view(true), "web_service_id", &v.service_id)).collect()),
            "secret_bindings": all(self.bindings.iter().map(|b| b.view()).collect()),
            "databases": all(self.datastores.iter().filter(|d| d.kind() == Kind::Databases).map(|d| d.view(now, true)).collect()),
            "redis": all(self.datastores.iter().filter(|d| d.kind() == Kind::Redis).map(|d| d.view(now, true)).collect()),
            "buckets": all(self.buckets.iter().map(|b| with(b.view(now), "account", &b.account)).collect()),
            "storage_keys": all(self.keys.iter().map(|k| with(k.view(true), "account", &k.account)).collect()),
        })
    }
}
