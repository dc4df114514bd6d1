//! What goes to the PaaS and what comes back, read tolerantly (see [`super::assumed`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A list answer: a bare array, or an object holding one (see [`super::assumed`]). Elements
/// that do not read as `T` (no id, say) are skipped.
pub(super) struct Listed<T>(pub Vec<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Listed<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = match Value::deserialize(deserializer)? {
            Value::Array(items) => items,
            Value::Object(mut fields) => ["items", "data", "results"]
                .iter()
                .find_map(|key| fields.remove(*key))
                .or_else(|| fields.into_iter().map(|(_, v)| v).find(Value::is_array))
                .and_then(|found| match found {
                    Value::Array(items) => Some(items),
                    _ => None,
                })
                .ok_or_else(|| serde::de::Error::custom("a list answer without a list"))?,
            _ => return Err(serde::de::Error::custom("a list answer without a list")),
        };
        Ok(Listed(
            items
                .into_iter()
                .filter_map(|item| serde_json::from_value(item).ok())
                .collect(),
        ))
    }
}

/// A project.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Project {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// `POST /api/projects`.
#[derive(Debug, Serialize)]
pub struct NewProject<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
}

/// A project secret as listed (its value masked, never read).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProjectSecret {
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub scope: String,
}

/// `POST /api/projects/{id}/secrets`; `PATCH` sends the value alone.
#[derive(Serialize)]
pub struct NewSecret<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub scope: &'a str,
    pub is_secret: bool,
}

#[derive(Serialize)]
pub(super) struct NewValue<'a> {
    pub value: &'a str,
}

/// A database or a redis, as the list, a create or the detail shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Datastore {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub project_id: String,
    #[serde(default)]
    pub status: String,
    /// In the detail only, once provisioned (see [`super::assumed`]).
    #[serde(default)]
    pub connection: Option<Map<String, Value>>,
    /// Everything else: its settings (`plan`, `storage_gb` …) and what the portal adds.
    #[serde(flatten)]
    pub settings: Map<String, Value>,
}

/// A web service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebService {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub project_id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub url: Option<String>,
    /// Everything else: `git_repository_url`, `branch`, `port`, `min_instances` …
    #[serde(flatten)]
    pub settings: Map<String, Value>,
}

/// A deployment of a web service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Deployment {
    pub id: String,
    #[serde(default)]
    pub status: String,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: String,
}

/// An env variable as listed (its value masked, never read).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EnvEntry {
    pub id: String,
    pub key: String,
}

/// A secret binding as listed: a project secret bound to a service under an env variable.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SecretBinding {
    pub id: String,
    #[serde(default)]
    pub project_secret_id: String,
    #[serde(default)]
    pub alias_key: String,
}

/// A bucket (read from the list: there is no route for one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Bucket {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub public: Option<bool>,
    /// Its S3 name and endpoint.
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// An access key; its secret only in the answer to its create.
#[derive(Clone, PartialEq, Deserialize)]
pub struct AccessKey {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub access_key_id: String,
    #[serde(default)]
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_read_bare_or_wrapped_and_skip_what_has_no_id() {
        let bare: Listed<Project> =
            serde_json::from_str(r#"[{"id": "a", "name": "x"}, {"name": "no id"}]"#).unwrap();
        assert_eq!(bare.0.len(), 1);
        let wrapped: Listed<Project> =
            serde_json::from_str(r#"{"projects": [{"id": "a"}, {"id": "b"}], "total": 2}"#)
                .unwrap();
        assert_eq!(wrapped.0.len(), 2);
        let items: Listed<Project> =
            serde_json::from_str(r#"{"items": [{"id": "a", "extra": 1}]}"#).unwrap();
        assert_eq!(items.0[0].id, "a");
        assert!(serde_json::from_str::<Listed<Project>>(r#"{"detail": "x"}"#).is_err());
    }
}
