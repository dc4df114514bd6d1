//! A web service's env vars (masked when secret, revealed on request, bulk PUT) and its secret
//! bindings to project secrets, with the resolved view of both.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::assumed::{DEFAULT_IS_SECRET, check_key, shown};
use super::body::Fields;
use super::error::ApiError;
use super::store::{Row, Store, replace_set};
use crate::sim::clock::rfc3339;
use crate::sim::ids::new_id;

#[derive(Debug, Clone)]
pub(crate) struct EnvVar {
    pub id: String,
    pub service_id: String,
    pub key: String,
    pub value: String,
    pub is_secret: bool,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Row for EnvVar {
    fn id(&self) -> &str {
        &self.id
    }
}

impl EnvVar {
    pub fn view(&self, revealed: bool) -> Value {
        json!({
            "id": self.id,
            "key": self.key,
            "value": shown(&self.value, self.is_secret && !revealed),
            "is_secret": self.is_secret,
            "created_at": rfc3339(self.created_ms),
            "updated_at": rfc3339(self.updated_ms),
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub id: String,
    pub service_id: String,
    pub secret_id: String,
    pub alias_key: String,
    pub created_ms: u64,
}

impl Row for Binding {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Binding {
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "web_service_id": self.service_id,
            "project_secret_id": self.secret_id,
            "alias_key": self.alias_key,
            "created_at": rfc3339(self.created_ms),
        })
    }
}

/// `value` (required string) and `is_secret` (ASSUMPTION DEFAULT_IS_SECRET) of a body.
pub(crate) fn parse_value(f: Fields<'_>) -> Result<(String, bool), ApiError> {
    let value = f.str("value")?;
    let is_secret = f.opt_bool("is_secret")?.unwrap_or(DEFAULT_IS_SECRET);
    Ok((value.to_owned(), is_secret))
}

fn parse_var(f: Fields<'_>) -> Result<(String, (String, bool)), ApiError> {
    let key = f.str("key")?;
    check_key(key)?;
    Ok((key.to_owned(), parse_value(f)?))
}

fn new_var(service_id: &str, key: String, (value, is_secret): (String, bool), now: u64) -> EnvVar {
    EnvVar {
        id: new_id(),
        service_id: service_id.to_owned(),
        key,
        value,
        is_secret,
        created_ms: now,
        updated_ms: now,
    }
}

impl Store {
    fn env_of(&self, service_id: &str, revealed: bool) -> Value {
        let views: Vec<Value> = self
            .env
            .iter()
            .filter(|v| v.service_id == service_id)
            .map(|v| v.view(revealed))
            .collect();
        Value::Array(views)
    }

    fn var(&self, account: &str, service_id: &str, id: &str) -> Result<&EnvVar, ApiError> {
        self.service(account, service_id)?;
        self.env
            .get(id)
            .filter(|v| v.service_id == service_id)
            .ok_or_else(|| ApiError::not_found("env var", id))
    }

    /// Masked, or in clear with `revealed` (the reveal-all route).
    pub fn list_env(
        &self,
        account: &str,
        service_id: &str,
        revealed: bool,
    ) -> Result<Value, ApiError> {
        self.service(account, service_id)?;
        Ok(self.env_of(service_id, revealed))
    }

    pub fn reveal_var(&self, account: &str, service_id: &str, id: &str) -> Result<Value, ApiError> {
        Ok(self.var(account, service_id, id)?.view(true))
    }

    pub fn add_var(
        &mut self,
        account: &str,
        service_id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        self.service(account, service_id)?;
        let (key, value) = parse_var(Fields::of(body)?)?;
        if self
            .env
            .iter()
            .any(|v| v.service_id == service_id && v.key == key)
        {
            // ASSUMPTION KEY_TAKEN_IS_400.
            return Err(ApiError::bad_request(format!(
                "env var {key} already exists: change it with PATCH"
            )));
        }
        Ok(self
            .env
            .insert(new_var(service_id, key, value, now))
            .view(false))
    }

    pub fn patch_var(
        &mut self,
        account: &str,
        service_id: &str,
        id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        self.var(account, service_id, id)?;
        let f = Fields::of(body)?;
        let value = f.opt_str("value")?;
        let is_secret = f.opt_bool("is_secret")?;
        if value.is_none() && is_secret.is_none() {
            return Err(ApiError::bad_request(
                "nothing to update: give \"value\" or \"is_secret\"",
            ));
        }
        let var = self.env.get_mut(id).expect("found above");
        if let Some(value) = value {
            var.value = value.to_owned();
        }
        if let Some(is_secret) = is_secret {
            var.is_secret = is_secret;
        }
        var.updated_ms = now;
        Ok(var.view(false))
    }

    /// ASSUMPTION BULK_REPLACES: the service's env becomes exactly the body's `variables`.
    pub fn bulk_env(
        &mut self,
        account: &str,
        service_id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        self.service(account, service_id)?;
        let mut entries: Vec<(String, (String, bool))> = Vec::new();
        for item in Fields::of(body)?.objects("variables")? {
            let (key, value) = parse_var(item)?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(ApiError::bad_request(format!(
                    "env var {key} appears twice"
                )));
            }
            entries.push((key, value));
        }
        replace_set(
            &mut self.env,
            |v| v.service_id == service_id,
            |v| v.key.clone(),
            entries
                .into_iter()
                .map(|(key, value)| (key.clone(), (key, value)))
                .collect(),
            |v, (_, (value, is_secret))| {
                v.value = value;
                v.is_secret = is_secret;
                v.updated_ms = now;
            },
            |(key, value)| new_var(service_id, key, value, now),
        );
        Ok(self.env_of(service_id, false))
    }

    pub fn delete_var(
        &mut self,
        account: &str,
        service_id: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        self.var(account, service_id, id)?;
        self.env.remove(id);
        Ok(())
    }

    fn bindings_of(&self, service_id: &str) -> Value {
        let views: Vec<Value> = self
            .bindings
            .iter()
            .filter(|b| b.service_id == service_id)
            .map(Binding::view)
            .collect();
        Value::Array(views)
    }

    pub fn list_bindings(&self, account: &str, service_id: &str) -> Result<Value, ApiError> {
        self.service(account, service_id)?;
        Ok(self.bindings_of(service_id))
    }

    /// `project_secret_id` and `alias_key` of a body; the secret must be of the service's
    /// project (ASSUMPTION FOREIGN_IS_NOT_FOUND).
    fn parse_binding(&self, project_id: &str, f: Fields<'_>) -> Result<(String, String), ApiError> {
        let secret_id = f.str("project_secret_id")?;
        let alias = f.str("alias_key")?;
        check_key(alias)?;
        self.secrets
            .get(secret_id)
            .filter(|s| s.project_id == project_id)
            .ok_or_else(|| ApiError::not_found("project secret", secret_id))?;
        Ok((alias.to_owned(), secret_id.to_owned()))
    }

    pub fn add_binding(
        &mut self,
        account: &str,
        service_id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let project_id = self.service(account, service_id)?.project_id.clone();
        let (alias, secret_id) = self.parse_binding(&project_id, Fields::of(body)?)?;
        if self
            .bindings
            .iter()
            .any(|b| b.service_id == service_id && b.alias_key == alias)
        {
            // ASSUMPTION KEY_TAKEN_IS_400.
            return Err(ApiError::bad_request(format!(
                "alias_key {alias} is already bound"
            )));
        }
        Ok(self
            .bindings
            .insert(new_binding(service_id, alias, secret_id, now))
            .view())
    }

    /// ASSUMPTION BULK_REPLACES: the service's bindings become exactly the body's.
    pub fn bulk_bindings(
        &mut self,
        account: &str,
        service_id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let project_id = self.service(account, service_id)?.project_id.clone();
        let mut entries: Vec<(String, String)> = Vec::new();
        for item in Fields::of(body)?.objects("bindings")? {
            let (alias, secret_id) = self.parse_binding(&project_id, item)?;
            if entries.iter().any(|(a, _)| *a == alias) {
                return Err(ApiError::bad_request(format!(
                    "alias_key {alias} appears twice"
                )));
            }
            entries.push((alias, secret_id));
        }
        replace_set(
            &mut self.bindings,
            |b| b.service_id == service_id,
            |b| b.alias_key.clone(),
            entries
                .into_iter()
                .map(|(alias, secret)| (alias.clone(), (alias, secret)))
                .collect(),
            |b, (_, secret_id)| b.secret_id = secret_id,
            |(alias, secret_id)| new_binding(service_id, alias, secret_id, now),
        );
        Ok(self.bindings_of(service_id))
    }

    pub fn delete_binding(
        &mut self,
        account: &str,
        service_id: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        self.service(account, service_id)?;
        self.bindings
            .get(id)
            .filter(|b| b.service_id == service_id)
            .ok_or_else(|| ApiError::not_found("secret binding", id))?;
        self.bindings.remove(id);
        Ok(())
    }

    /// ASSUMPTION RESOLVED_VIEW: env vars shadow bindings; secrets stay masked.
    pub fn resolved(&self, account: &str, service_id: &str) -> Result<Value, ApiError> {
        self.service(account, service_id)?;
        let mut merged: BTreeMap<&str, Value> = BTreeMap::new();
        for b in self.bindings.iter().filter(|b| b.service_id == service_id) {
            if let Some(s) = self.secrets.get(&b.secret_id) {
                merged.insert(
                    &b.alias_key,
                    json!({"key": b.alias_key, "value": shown(&s.value, s.is_secret),
                           "is_secret": s.is_secret, "source": "secret_binding"}),
                );
            }
        }
        for v in self.env.iter().filter(|v| v.service_id == service_id) {
            merged.insert(
                &v.key,
                json!({"key": v.key, "value": shown(&v.value, v.is_secret),
                       "is_secret": v.is_secret, "source": "env"}),
            );
        }
        Ok(Value::Array(merged.into_values().collect()))
    }
}

fn new_binding(service_id: &str, alias_key: String, secret_id: String, now: u64) -> Binding {
    Binding {
        id: new_id(),
        service_id: service_id.to_owned(),
        secret_id,
        alias_key,
        created_ms: now,
    }
}
