//! Where an object's calls go, and with which credential: the ProviderConfig it names, its own
//! token Secret (HTX kinds), or the operator's default for its provider (under the tenancy rule,
//! [`DefaultScope`](super::tenancy::DefaultScope)).

use std::collections::HashMap;
use std::sync::Mutex;

use kube::ResourceExt;
use kube::runtime::watcher;
use tokio::sync::mpsc::UnboundedSender;

use crate::api::{Provider, ProviderConfig, TokenSecretRef};
use crate::http::{Budget, Portal, SetupError};

use super::conditions::{self, READY};
use super::error::Error;
use super::tokens::{DEFAULT_KEY, TokenLocation, Wake};

/// What the operator was told of one provider (command line, chart): its portal, and the
/// default credentials there, if any.
pub struct ProviderDefault {
    pub portal: Portal,
    pub secret: Option<TokenLocation>,
}

/// The operator's defaults for every provider.
pub struct Defaults {
    by_provider: HashMap<Provider, ProviderDefault>,
    /// Plain http to another machine is allowed (ProviderConfig URLs too).
    pub allow_insecure_http: bool,
}

impl Defaults {
    pub fn new(by_provider: HashMap<Provider, ProviderDefault>, allow_insecure_http: bool) -> Self {
        Self {
            by_provider,
            allow_insecure_http,
        }
    }

    fn of(&self, provider: Provider) -> &ProviderDefault {
        self.by_provider
            .get(&provider)
            .expect("every provider has its defaults")
    }

    /// The default credentials' Secrets (to tell a binding by default credentials apart).
    pub fn secret(&self, provider: Provider) -> Option<&TokenLocation> {
        self.of(provider).secret.as_ref()
    }
}

/// How an object names its credentials.
#[derive(Debug, Clone, Copy, Default)]
pub struct CredentialRefs<'a> {
    pub provider_config: Option<&'a str>,
    pub token_secret: Option<&'a TokenSecretRef>,
}

/// Where an object's calls go.
#[derive(Debug, Clone)]
pub struct Located {
    pub portal: Portal,
    pub secret: TokenLocation,
    /// The operator's default credentials (the tenancy rule applies).
    pub by_default: bool,
}

/// A ProviderConfig by namespace and name.
type ConfigKey = (String, String);

/// The ProviderConfigs the operator watches, as last seen; the objects that wait for one to be
/// Ready; and the objects that use one (they may need it to delete their portal resource).
#[derive(Default)]
pub struct ProviderConfigs {
    seen: Mutex<HashMap<ConfigKey, ProviderConfig>>,
    waiting: Mutex<HashMap<ConfigKey, Vec<Wake>>>,
    /// By object uid: the ProviderConfig it uses while it holds the operator's finalizer.
    users: Mutex<HashMap<String, ConfigKey>>,
}

fn key_of(config: &ProviderConfig) -> ConfigKey {
    (config.namespace().unwrap_or_default(), config.name_any())
}

fn is_ready(config: &ProviderConfig) -> bool {
    config
        .status
        .as_ref()
        .is_some_and(|status| conditions::is_true(&status.conditions, READY))
}

impl ProviderConfigs {
    /// Follows the watch of ProviderConfigs; wakes the objects that waited for one that is
    /// Ready now.
    pub fn observe(&self, event: &watcher::Event<ProviderConfig>, waker: &UnboundedSender<Wake>) {
        let mut seen = self.seen.lock().expect("provider configs");
        match event {
            watcher::Event::Apply(config) | watcher::Event::InitApply(config) => {
                seen.insert(key_of(config), config.clone());
                if is_ready(config) {
                    let woken = self
                        .waiting
                        .lock()
                        .expect("provider config waiters")
                        .remove(&key_of(config));
                    for object in woken.into_iter().flatten() {
                        let _ = waker.send(object);
                    }
                }
            }
            watcher::Event::Delete(config) => {
                seen.remove(&key_of(config));
            }
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }

    /// `object` waits for the ProviderConfig `name` of `namespace` to be Ready.
    pub fn wait_for(&self, namespace: &str, name: &str, object: Wake) {
        let mut waiting = self.waiting.lock().expect("provider config waiters");
        let waiters = waiting
            .entry((namespace.to_owned(), name.to_owned()))
            .or_default();
        if !waiters.contains(&object) {
            waiters.push(object);
        }
    }

    /// Stops waiting for `object` (it was deleted).
    pub fn forget(&self, object: &Wake) {
        let mut waiting = self.waiting.lock().expect("provider config waiters");
        for waiters in waiting.values_mut() {
            waiters.retain(|waiter| waiter != object);
        }
        waiting.retain(|_, waiters| !waiters.is_empty());
    }

    /// Follows the watch of a kind whose objects may name a ProviderConfig: `user_of` says which
    /// one an object uses while it holds the operator's finalizer.
    pub fn track_users<K: kube::Resource>(
        &self,
        event: &watcher::Event<K>,
        user_of: impl Fn(&K) -> Option<String>,
    ) {
        let mut users = self.users.lock().expect("provider config users");
        let mut note = |object: &K| {
            let uid = object.meta().uid.clone().unwrap_or_default();
            match user_of(object) {
                Some(name) => {
                    let namespace = object.meta().namespace.clone().unwrap_or_default();
                    users.insert(uid, (namespace, name));
                }
                None => {
                    users.remove(&uid);
                }
            }
        };
        match event {
            watcher::Event::Apply(object) | watcher::Event::InitApply(object) => note(object),
            watcher::Event::Delete(object) => {
                users.remove(&object.meta().uid.clone().unwrap_or_default());
            }
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }

    /// How many objects still use the ProviderConfig.
    pub fn users(&self, config: &ProviderConfig) -> usize {
        let key = key_of(config);
        self.users
            .lock()
            .expect("provider config users")
            .values()
            .filter(|used| **used == key)
            .count()
    }

    fn get(&self, namespace: &str, name: &str) -> Option<ProviderConfig> {
        self.seen
            .lock()
            .expect("provider configs")
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }
}

/// The portal and credentials of an object of `namespace` and `provider` naming `refs`.
pub fn locate(
    defaults: &Defaults,
    configs: &ProviderConfigs,
    namespace: &str,
    provider: Provider,
    refs: CredentialRefs,
) -> Result<Located, Error> {
    match (refs.provider_config, refs.token_secret) {
        (Some(_), Some(_)) => Err(Error::InvalidSpec {
            reason: "InvalidSpec",
            message: "set only one of spec.providerConfigRef and spec.tokenSecretRef".to_owned(),
        }),
        (Some(name), None) => {
            let Some(config) = configs.get(namespace, name) else {
                return Err(Error::ProviderConfigMissing {
                    name: name.to_owned(),
                });
            };
            if config.spec.provider != provider {
                return Err(Error::InvalidSpec {
                    reason: "InvalidSpec",
                    message: format!(
                        "the ProviderConfig '{name}' is for {}, and this object needs {provider}: name a ProviderConfig of provider {provider}",
                        config.spec.provider
                    ),
                });
            }
            let ready = config
                .status
                .as_ref()
                .and_then(|status| conditions::find(&status.conditions, READY));
            if ready.is_none_or(|ready| ready.status != "True") {
                return Err(Error::ProviderConfigNotReady {
                    name: name.to_owned(),
                    why: ready.map_or_else(
                        || "not checked yet".to_owned(),
                        |ready| ready.reason.clone(),
                    ),
                });
            }
            Ok(Located {
                portal: config_portal(defaults, &config).map_err(|error| Error::InvalidSpec {
                    reason: "InvalidSpec",
                    message: format!("the ProviderConfig '{name}': {error}"),
                })?,
                secret: config_secret(&config),
                by_default: false,
            })
        }
        (None, Some(reference)) => Ok(Located {
            portal: defaults.of(provider).portal.clone(),
            secret: TokenLocation::of_reference(namespace, reference),
            by_default: false,
        }),
        (None, None) => {
            let default = defaults.of(provider);
            let Some(secret) = default.secret.clone() else {
                return Err(Error::NoCredentials {
                    namespace: namespace.to_owned(),
                });
            };
            Ok(Located {
                portal: default.portal.clone(),
                secret,
                by_default: true,
            })
        }
    }
}

/// The portal a ProviderConfig names: its URL and budget, else those the operator was given for
/// the provider (the command line's, else the provider's documented ones).
pub fn config_portal(defaults: &Defaults, config: &ProviderConfig) -> Result<Portal, SetupError> {
    let default = &defaults.of(config.spec.provider).portal;
    let url = config.spec.url.as_deref().unwrap_or(default.base_url());
    let budget = config
        .spec
        .requests_per_minute
        .map_or(default.budget, Budget::per_minute);
    Portal::new(url, budget, default.dialect, defaults.allow_insecure_http)
}

/// The Secret a ProviderConfig's credentials are in.
pub fn config_secret(config: &ProviderConfig) -> TokenLocation {
    let reference = &config.spec.credentials_secret_ref;
    TokenLocation {
        namespace: config.namespace().unwrap_or_default(),
        name: reference.name.clone(),
        key: reference
            .key
            .clone()
            .unwrap_or_else(|| DEFAULT_KEY.to_owned()),
    }
}
