//! Projects and their secrets. ASSUMPTION NO_PROJECT_UPDATE, NO_PROJECT_DELETE: neither route
//! exists; only the hooks change or delete a project.

use serde_json::{Value, json};

use super::assumed::{SECRET_SCOPES, check_key, check_project_name, shown};
use super::body::Fields;
use super::env::parse_value;
use super::error::ApiError;
use super::store::{Row, Store, replace_set};
use crate::sim::clock::rfc3339;
use crate::sim::ids::new_id;

#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub id: String,
    pub account: String,
    pub name: String,
    pub description: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Row for Project {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Project {
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "created_at": rfc3339(self.created_ms),
            "updated_at": rfc3339(self.updated_ms),
        })
    }

    /// The fields a create body (and a hook's change) may set.
    pub fn apply(&mut self, f: Fields<'_>) -> Result<(), ApiError> {
        if let Some(name) = f.opt_str("name")? {
            check_project_name(name)?;
            self.name = name.to_owned();
        }
        if let Some(description) = f.opt_str("description")? {
            self.description = description.to_owned();
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ProjectSecret {
    pub id: String,
    pub project_id: String,
    pub key: String,
    pub value: String,
    pub scope: String,
    pub is_secret: bool,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Row for ProjectSecret {
    fn id(&self) -> &str {
        &self.id
    }
}

impl ProjectSecret {
    /// Masked unless `revealed` (or not secret).
    pub fn view(&self, revealed: bool) -> Value {
        json!({
            "id": self.id,
            "project_id": self.project_id,
            "key": self.key,
            "value": shown(&self.value, self.is_secret && !revealed),
            "scope": self.scope,
            "is_secret": self.is_secret,
            "created_at": rfc3339(self.created_ms),
            "updated_at": rfc3339(self.updated_ms),
        })
    }
}

/// One secret of a create or bulk body.
struct SecretEntry {
    key: String,
    value: String,
    scope: String,
    is_secret: bool,
}

fn parse_secret(f: Fields<'_>) -> Result<SecretEntry, ApiError> {
    let key = f.str("key")?;
    check_key(key)?;
    // ASSUMPTION SCOPE_REQUIRED.
    let scope = f.str("scope")?;
    if !SECRET_SCOPES.contains(&scope) {
        return Err(ApiError::bad_request(format!(
            "field \"scope\" must be one of {}",
            SECRET_SCOPES.join(", ")
        )));
    }
    let (value, is_secret) = parse_value(f)?;
    Ok(SecretEntry {
        key: key.to_owned(),
        value,
        scope: scope.to_owned(),
        is_secret,
    })
}

impl Store {
    pub fn create_project(
        &mut self,
        account: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let f = Fields::of(body)?;
        f.str("name")?;
        let mut project = Project {
            id: new_id(),
            account: account.to_owned(),
            name: String::new(),
            description: String::new(),
            created_ms: now,
            updated_ms: now,
        };
        project.apply(f)?;
        Ok(self.projects.insert(project).view())
    }

    pub fn list_projects(&self, account: &str) -> Value {
        let views: Vec<Value> = self
            .projects
            .iter()
            .filter(|p| p.account == account)
            .map(Project::view)
            .collect();
        Value::Array(views)
    }

    /// ASSUMPTION FOREIGN_IS_NOT_FOUND.
    pub fn project(&self, account: &str, id: &str) -> Result<&Project, ApiError> {
        self.projects
            .get(id)
            .filter(|p| p.account == account)
            .ok_or_else(|| ApiError::not_found("project", id))
    }

    pub fn get_project(&self, account: &str, id: &str) -> Result<Value, ApiError> {
        Ok(self.project(account, id)?.view())
    }

    pub fn list_secrets(&self, account: &str, project_id: &str) -> Result<Value, ApiError> {
        self.project(account, project_id)?;
        Ok(self.secrets_of(project_id))
    }

    fn secrets_of(&self, project_id: &str) -> Value {
        let views: Vec<Value> = self
            .secrets
            .iter()
            .filter(|s| s.project_id == project_id)
            .map(|s| s.view(false))
            .collect();
        Value::Array(views)
    }

    fn secret(
        &self,
        account: &str,
        project_id: &str,
        id: &str,
    ) -> Result<&ProjectSecret, ApiError> {
        self.project(account, project_id)?;
        self.secrets
            .get(id)
            .filter(|s| s.project_id == project_id)
            .ok_or_else(|| ApiError::not_found("project secret", id))
    }

    pub fn create_secret(
        &mut self,
        account: &str,
        project_id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        self.project(account, project_id)?;
        let entry = parse_secret(Fields::of(body)?)?;
        let taken = self
            .secrets
            .iter()
            .any(|s| s.project_id == project_id && s.key == entry.key && s.scope == entry.scope);
        if taken {
            // ASSUMPTION KEY_TAKEN_IS_400.
            return Err(ApiError::bad_request(format!(
                "a secret {} already exists in scope {}: change it with PATCH",
                entry.key, entry.scope
            )));
        }
        let secret = new_secret(project_id, entry, now);
        Ok(self.secrets.insert(secret).view(false))
    }

    pub fn reveal_secret(
        &self,
        account: &str,
        project_id: &str,
        id: &str,
    ) -> Result<Value, ApiError> {
        Ok(self.secret(account, project_id, id)?.view(true))
    }

    pub fn patch_secret(
        &mut self,
        account: &str,
        project_id: &str,
        id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        self.secret(account, project_id, id)?;
        let f = Fields::of(body)?;
        let value = f.opt_str("value")?;
        let is_secret = f.opt_bool("is_secret")?;
        if value.is_none() && is_secret.is_none() {
            return Err(ApiError::bad_request(
                "nothing to update: give \"value\" or \"is_secret\"",
            ));
        }
        let secret = self.secrets.get_mut(id).expect("found above");
        if let Some(value) = value {
            secret.value = value.to_owned();
        }
        if let Some(is_secret) = is_secret {
            secret.is_secret = is_secret;
        }
        secret.updated_ms = now;
        Ok(secret.view(false))
    }

    /// ASSUMPTION BULK_REPLACES: the project's secrets become exactly the body's.
    pub fn bulk_secrets(
        &mut self,
        account: &str,
        project_id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        self.project(account, project_id)?;
        let mut entries = Vec::new();
        for item in Fields::of(body)?.objects("secrets")? {
            let entry = parse_secret(item)?;
            let key = (entry.key.clone(), entry.scope.clone());
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(ApiError::bad_request(format!(
                    "secret {} appears twice in scope {}",
                    key.0, key.1
                )));
            }
            entries.push((key, entry));
        }
        let removed = replace_set(
            &mut self.secrets,
            |s| s.project_id == project_id,
            |s| (s.key.clone(), s.scope.clone()),
            entries,
            |s, entry| {
                s.value = entry.value;
                s.is_secret = entry.is_secret;
                s.updated_ms = now;
            },
            |entry| new_secret(project_id, entry, now),
        );
        self.drop_bindings_to(&removed);
        Ok(self.secrets_of(project_id))
    }

    pub fn delete_secret(
        &mut self,
        account: &str,
        project_id: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        self.secret(account, project_id, id)?;
        self.secrets.remove(id);
        self.drop_bindings_to(&[id.to_owned()]);
        Ok(())
    }

    /// ASSUMPTION SECRET_DELETE_DROPS_BINDINGS.
    fn drop_bindings_to(&mut self, secret_ids: &[String]) {
        if !secret_ids.is_empty() {
            self.bindings.retain(|b| !secret_ids.contains(&b.secret_id));
        }
    }
}

fn new_secret(project_id: &str, entry: SecretEntry, now: u64) -> ProjectSecret {
    ProjectSecret {
        id: new_id(),
        project_id: project_id.to_owned(),
        key: entry.key,
        value: entry.value,
        scope: entry.scope,
        is_secret: entry.is_secret,
        created_ms: now,
        updated_ms: now,
    }
}
