//! Finds the portal token of an object: its own `tokenSecretRef`, else the operator's default.
//!
//! Secrets are read by name (no list or watch of Secrets) and kept for a few seconds, so a
//! rotated token is used within that time without a restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use tokio::time::Instant;

use crate::api::TokenSecretRef;
use crate::http::{ApiToken, InvalidToken};

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
            Some(reference) => Self::of_reference(namespace, reference),
            None => default.clone(),
        }
    }

    /// The Secret a `tokenSecretRef` names, in the referring object's namespace.
    pub fn of_reference(namespace: &str, reference: &TokenSecretRef) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: reference.name.clone(),
            key: reference
                .key
                .clone()
                .unwrap_or_else(|| DEFAULT_KEY.to_owned()),
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

/// A token Secret as read: the token (or why there is none) and the Secret's resourceVersion at
/// that moment (`None`: the Secret does not exist), which tells a later change apart.
#[derive(Debug, Clone)]
pub struct Credential {
    pub version: Option<String>,
    pub token: Result<ApiToken, TokenError>,
    /// The Secret's finalizers (see [`in_use_finalizer`]).
    pub finalizers: Vec<String>,
}

/// A Secret read and when it happened.
type Read = (Instant, Credential);

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

    /// The token at `location`, read at most [`FRESH_FOR`] ago.
    pub async fn token(&self, location: &TokenLocation) -> Result<ApiToken, TokenError> {
        self.credential(location).await.token
    }

    /// The Secret at `location` as read at most [`FRESH_FOR`] ago.
    pub async fn credential(&self, location: &TokenLocation) -> Credential {
        if let Some((read_at, credential)) = self.cache.lock().expect("token cache").get(location)
            && read_at.elapsed() < FRESH_FOR
        {
            return credential.clone();
        }
        let credential = self.read(location).await;
        if !matches!(credential.token, Err(TokenError::Unreadable(_))) {
            self.cache
                .lock()
                .expect("token cache")
                .insert(location.clone(), (Instant::now(), credential.clone()));
        }
        credential
    }

    /// Drops a cached read, so the next [`TokenSource::token`] reads the Secret again.
    pub fn forget(&self, location: &TokenLocation) {
        self.cache.lock().expect("token cache").remove(location);
    }

    /// Drops the reads no reconcile may use any more (they are older than [`FRESH_FOR`]).
    pub fn forget_stale(&self) {
        self.cache
            .lock()
            .expect("token cache")
            .retain(|_, (read_at, _)| read_at.elapsed() < FRESH_FOR);
    }

    async fn read(&self, location: &TokenLocation) -> Credential {
        let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), &location.namespace);
        let secret = match secrets.get_opt(&location.name).await {
            Ok(Some(secret)) => secret,
            Ok(None) => {
                return Credential {
                    version: None,
                    token: Err(TokenError::SecretMissing(location.clone())),
                    finalizers: Vec::new(),
                };
            }
            Err(error) => {
                return Credential {
                    version: None,
                    token: Err(TokenError::Unreadable(error.to_string())),
                    finalizers: Vec::new(),
                };
            }
        };
        Credential {
            version: secret.metadata.resource_version.clone(),
            token: token_of(&secret, location),
            finalizers: secret.metadata.finalizers.clone().unwrap_or_default(),
        }
    }

    /// Keeps the token Secret at `location` from going away while `user` may still need it to
    /// delete its portal resource: a namespace deleted with its token Secret inside would
    /// otherwise leave the objects unable to reach the portal, and the namespace stuck.
    pub async fn protect(&self, location: &TokenLocation, user: &str) -> Result<(), kube::Error> {
        let finalizer = in_use_finalizer(user);
        let patch = serde_json::json!({"metadata": {"finalizers": [finalizer]}});
        let result = self.patch_secret(location, patch).await;
        self.forget(location);
        result
    }

    /// Lets the token Secret at `location` go as far as `user` is concerned.
    pub async fn release(&self, location: &TokenLocation, user: &str) -> Result<(), kube::Error> {
        let finalizer = in_use_finalizer(user);
        let patch = serde_json::json!({
            "metadata": {"$deleteFromPrimitiveList/finalizers": [finalizer]}
        });
        let result = match self.patch_secret(location, patch).await {
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            other => other,
        };
        self.forget(location);
        result
    }

    async fn patch_secret(
        &self,
        location: &TokenLocation,
        patch: serde_json::Value,
    ) -> Result<(), kube::Error> {
        let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), &location.namespace);
        secrets
            .patch(
                &location.name,
                &PatchParams::default(),
                &Patch::Strategic(patch),
            )
            .await
            .map(drop)
    }
}

/// The finalizer an object puts on the token Secret it uses: one per object (by uid), so each
/// takes only its own off, and no count can go wrong across crashes.
pub fn in_use_finalizer(user: &str) -> String {
    format!("{IN_USE_PREFIX}{user}")
}

/// The prefix of every in-use finalizer on token Secrets.
pub const IN_USE_PREFIX: &str = "htx.vinacis.com/in-use-";

fn token_of(secret: &Secret, location: &TokenLocation) -> Result<ApiToken, TokenError> {
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
/// waits on, by name (metadata only).
///
/// A change is measured against the version of the Secret the failed reconcile read, not against
/// the first poll: a Secret fixed a second after the failure is a change too.
pub struct SecretWatch<R> {
    waiting: Mutex<HashMap<TokenLocation, Vec<Waiter<R>>>>,
    wake: tokio::sync::mpsc::UnboundedSender<R>,
}

struct Waiter<R> {
    object: R,
    /// The Secret's resourceVersion the object failed with (`None`: there was no Secret).
    failed_with: Option<String>,
}

impl<R: Clone + PartialEq + Send + 'static> SecretWatch<R> {
    /// Wakes objects by sending them to `wake`.
    pub fn new(wake: tokio::sync::mpsc::UnboundedSender<R>) -> Self {
        Self {
            waiting: Mutex::new(HashMap::new()),
            wake,
        }
    }

    /// `object` failed with the Secret at `location` at `version`: it waits until it differs.
    pub fn wait_for_change(&self, location: TokenLocation, version: Option<String>, object: R) {
        let mut waiting = self.waiting.lock().expect("secret waiters");
        let waiters = waiting.entry(location).or_default();
        waiters.retain(|waiter| waiter.object != object);
        waiters.push(Waiter {
            object,
            failed_with: version,
        });
    }

    /// Stops waiting for `object` (it was deleted).
    pub fn forget(&self, object: &R) {
        let mut waiting = self.waiting.lock().expect("secret waiters");
        for waiters in waiting.values_mut() {
            waiters.retain(|waiter| waiter.object != *object);
        }
        waiting.retain(|_, waiters| !waiters.is_empty());
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
                let woken = self.changed(&location, &version);
                if !woken.is_empty() {
                    tokens.forget(&location);
                }
                for object in woken {
                    let _ = self.wake.send(object);
                }
            }
            if self.wake.is_closed() {
                return;
            }
        }
    }

    /// Takes out the waiters of `location` whose failure was with another version.
    fn changed(&self, location: &TokenLocation, version: &Option<String>) -> Vec<R> {
        let mut waiting = self.waiting.lock().expect("secret waiters");
        let Some(waiters) = waiting.get_mut(location) else {
            return Vec::new();
        };
        let (woken, still): (Vec<_>, Vec<_>) = std::mem::take(waiters)
            .into_iter()
            .partition(|waiter| waiter.failed_with != *version);
        *waiters = still;
        if waiters.is_empty() {
            waiting.remove(location);
        }
        woken.into_iter().map(|waiter| waiter.object).collect()
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
    fn a_waiter_wakes_on_any_version_but_the_one_it_failed_with() {
        let (wake, _woken) = tokio::sync::mpsc::unbounded_channel();
        let watch = SecretWatch::<&str>::new(wake);
        let location = TokenLocation::parse("team/token").unwrap();
        watch.wait_for_change(location.clone(), Some("7".into()), "early");
        assert!(watch.changed(&location, &Some("7".into())).is_empty());
        watch.wait_for_change(location.clone(), Some("8".into()), "late");
        // The Secret was fixed right after the first failure: version 8 is a change for it.
        assert_eq!(watch.changed(&location, &Some("8".into())), ["early"]);
        assert_eq!(watch.changed(&location, &None), ["late"]);
        assert!(watch.waiting.lock().unwrap().is_empty());
    }

    #[test]
    fn a_deleted_object_stops_waiting() {
        let (wake, _woken) = tokio::sync::mpsc::unbounded_channel();
        let watch = SecretWatch::<&str>::new(wake);
        let location = TokenLocation::parse("team/token").unwrap();
        watch.wait_for_change(location.clone(), None, "gone");
        watch.forget(&"gone");
        assert!(watch.waiting.lock().unwrap().is_empty());
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
