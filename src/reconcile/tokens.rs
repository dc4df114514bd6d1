//! Finds the portal token of an object: its own `tokenSecretRef`, else the operator's default.
//!
//! Secrets are read by name (no list or watch of Secrets) and kept for a few seconds, so a
//! rotated token is used within that time without a restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use tokio::time::Instant;

use crate::api::TokenSecretRef;
use crate::portal::{ApiToken, InvalidToken};

/// The key a token Secret holds the token under unless a `tokenSecretRef` says otherwise.
pub const DEFAULT_KEY: &str = "token";

/// How long a Secret read is reused.
const FRESH_FOR: Duration = Duration::from_secs(5);

/// Where a token lives: a key of a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenLocation {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

impl TokenLocation {
    /// Parses `NAMESPACE/NAME` (the `--token-secret` flag).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.split_once('/') {
            Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => Ok(Self {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                key: DEFAULT_KEY.to_owned(),
            }),
            _ => Err(format!("expected NAMESPACE/NAME, got '{text}'")),
        }
    }

    /// The Secret an object in `namespace` uses: its own reference (always in its own
    /// namespace), else the default.
    pub fn for_object(
        namespace: &str,
        reference: Option<&TokenSecretRef>,
        default: &TokenLocation,
    ) -> Self {
        match reference {
            Some(reference) => Self {
                namespace: namespace.to_owned(),
                name: reference.name.clone(),
                key: reference
                    .key
                    .clone()
                    .unwrap_or_else(|| DEFAULT_KEY.to_owned()),
            },
            None => default.clone(),
        }
    }
}

impl std::fmt::Display for TokenLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} key '{}'", self.namespace, self.name, self.key)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("the token Secret {0} does not exist: create it with the portal API token")]
    SecretMissing(TokenLocation),
    #[error("the token Secret {0} has no such key: put the token under that key")]
    KeyMissing(TokenLocation),
    #[error("the token in Secret {location} is unusable: {problem}")]
    Invalid {
        location: TokenLocation,
        problem: InvalidToken,
    },
    #[error("the token Secret could not be read: {0}")]
    Unreadable(String),
}

impl TokenError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::SecretMissing(_) | Self::KeyMissing(_) => "TokenMissing",
            Self::Invalid { .. } => "TokenInvalid",
            Self::Unreadable(_) => "TokenUnreadable",
        }
    }
}

/// A Secret read and when it happened.
type Read = (Instant, Result<ApiToken, TokenError>);

/// Reads token Secrets by name and remembers them briefly.
pub struct TokenSource {
    kube: kube::Client,
    cache: Mutex<HashMap<TokenLocation, Read>>,
}

impl TokenSource {
    pub fn new(kube: kube::Client) -> Self {
        Self {
            kube,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn token(&self, location: &TokenLocation) -> Result<ApiToken, TokenError> {
        if let Some((read_at, result)) = self.cache.lock().expect("token cache").get(location)
            && read_at.elapsed() < FRESH_FOR
        {
            return result.clone();
        }
        let result = self.read(location).await;
        if !matches!(result, Err(TokenError::Unreadable(_))) {
            self.cache
                .lock()
                .expect("token cache")
                .insert(location.clone(), (Instant::now(), result.clone()));
        }
        result
    }

    /// Drops a cached read, so the next [`TokenSource::token`] reads the Secret again.
    pub fn forget(&self, location: &TokenLocation) {
        self.cache.lock().expect("token cache").remove(location);
    }

    async fn read(&self, location: &TokenLocation) -> Result<ApiToken, TokenError> {
        let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), &location.namespace);
        let secret = secrets
            .get_opt(&location.name)
            .await
            .map_err(|error| TokenError::Unreadable(error.to_string()))?
            .ok_or_else(|| TokenError::SecretMissing(location.clone()))?;
        let bytes = secret
            .data
            .as_ref()
            .and_then(|data| data.get(&location.key))
            .map(|value| value.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|data| data.get(&location.key))
                    .map(|value| value.clone().into_bytes())
            })
            .ok_or_else(|| TokenError::KeyMissing(location.clone()))?;
        let text = String::from_utf8(bytes).map_err(|_| TokenError::Invalid {
            location: location.clone(),
            problem: InvalidToken::BadCharacters,
        })?;
        ApiToken::new(text).map_err(|problem| TokenError::Invalid {
            location: location.clone(),
            problem,
        })
    }
}

/// An object to reconcile again, of any kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wake {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl Wake {
    pub fn of<K: kube::Resource<DynamicType = ()>>(object: &K) -> Self {
        let meta = object.meta();
        Self {
            kind: K::kind(&()).into_owned(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

/// Wakes objects that wait on a token Secret (401, 403, missing or bad token) as soon as that
/// Secret changes, instead of at the end of their long backoff. Polls only the Secrets someone
/// waits on, by name.
pub struct SecretWatch<R> {
    waiting: Mutex<HashMap<TokenLocation, Waiters<R>>>,
    wake: tokio::sync::mpsc::UnboundedSender<R>,
}

struct Waiters<R> {
    /// The Secret's resourceVersion when first polled; `None` until then.
    baseline: Option<Option<String>>,
    objects: Vec<R>,
}

impl<R: Clone + PartialEq + Send + 'static> SecretWatch<R> {
    pub fn new() -> (Self, tokio::sync::mpsc::UnboundedReceiver<R>) {
        let (wake, woken) = tokio::sync::mpsc::unbounded_channel();
        let watch = Self {
            waiting: Mutex::new(HashMap::new()),
            wake,
        };
        (watch, woken)
    }

    /// `object` waits until the Secret at `location` changes.
    pub fn wait_for_change(&self, location: TokenLocation, object: R) {
        let mut waiting = self.waiting.lock().expect("secret waiters");
        let waiters = waiting.entry(location).or_insert_with(|| Waiters {
            baseline: None,
            objects: Vec::new(),
        });
        if !waiters.objects.contains(&object) {
            waiters.objects.push(object);
        }
    }

    /// Polls the awaited Secrets every `interval` until the receiver is dropped. A changed
    /// Secret is dropped from `tokens`' cache before its waiters are woken.
    pub async fn run(&self, tokens: &TokenSource, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            let locations: Vec<TokenLocation> = self
                .waiting
                .lock()
                .expect("secret waiters")
                .keys()
                .cloned()
                .collect();
            for location in locations {
                let secrets: Api<Secret> =
                    Api::namespaced(tokens.kube.clone(), &location.namespace);
                let version = match secrets.get_metadata_opt(&location.name).await {
                    Ok(found) => found.and_then(|meta| meta.metadata.resource_version),
                    Err(error) => {
                        tracing::debug!(%error, "could not poll a token Secret");
                        continue;
                    }
                };
                if self.changed(&location, version) {
                    tokens.forget(&location);
                    self.wake(&location);
                }
            }
            if self.wake.is_closed() {
                return;
            }
        }
    }

    fn changed(&self, location: &TokenLocation, version: Option<String>) -> bool {
        let mut waiting = self.waiting.lock().expect("secret waiters");
        let Some(waiters) = waiting.get_mut(location) else {
            return false;
        };
        match &waiters.baseline {
            None => {
                waiters.baseline = Some(version);
                false
            }
            Some(baseline) => *baseline != version,
        }
    }

    fn wake(&self, location: &TokenLocation) {
        let waiters = self
            .waiting
            .lock()
            .expect("secret waiters")
            .remove(location);
        for object in waiters.map(|w| w.objects).unwrap_or_default() {
            let _ = self.wake.send(object);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_names_a_namespace_and_a_secret() {
        let location = TokenLocation::parse("htx-system/portal-token").unwrap();
        assert_eq!(location.namespace, "htx-system");
        assert_eq!(location.key, "token");
        assert!(TokenLocation::parse("portal-token").is_err());
        assert!(TokenLocation::parse("/x").is_err());
    }

    #[test]
    fn an_object_reference_stays_in_the_objects_namespace() {
        let default = TokenLocation::parse("htx-system/portal-token").unwrap();
        let reference = TokenSecretRef {
            name: "team-token".into(),
            key: Some("htx".into()),
        };
        let location = TokenLocation::for_object("team-a", Some(&reference), &default);
        assert_eq!(location.namespace, "team-a");
        assert_eq!(location.key, "htx");
        assert_eq!(TokenLocation::for_object("team-a", None, &default), default);
    }
}
