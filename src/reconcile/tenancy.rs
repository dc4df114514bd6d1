//! Which namespaces may use the operator's default credentials (DESIGN §3): every namespace
//! unless the operator is given a list or a label selector of namespaces; elsewhere an object must
//! name credentials of its own namespace (`NoCredentials` otherwise).

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;
use tokio::time::Instant;

use super::error::Error;

/// How long the namespaces a selector picks are reused.
const SELECTED_FOR: Duration = Duration::from_secs(30);

/// The namespaces the operator's default credentials (of every provider) serve.
pub struct DefaultScope {
    /// Namespaces served by name.
    namespaces: Vec<String>,
    /// A label selector of namespaces served.
    selector: Option<String>,
    selected: tokio::sync::Mutex<Option<(Instant, HashSet<String>)>>,
}

impl DefaultScope {
    /// Serving every namespace when `namespaces` and `selector` are both empty.
    pub fn new(namespaces: Vec<String>, selector: Option<String>) -> Self {
        Self {
            namespaces,
            selector: selector.filter(|s| !s.trim().is_empty()),
            selected: tokio::sync::Mutex::new(None),
        }
    }

    /// Refuses the default credentials to an object of `namespace` they do not serve.
    pub async fn check(&self, kube: &kube::Client, namespace: &str) -> Result<(), Error> {
        if self.serves(kube, namespace).await? {
            return Ok(());
        }
        Err(Error::NoCredentials {
            namespace: namespace.to_owned(),
        })
    }

    async fn serves(&self, kube: &kube::Client, namespace: &str) -> Result<bool, Error> {
        let Some(selector) = &self.selector else {
            return Ok(self.namespaces.is_empty() || self.listed(namespace));
        };
        if self.listed(namespace) {
            return Ok(true);
        }
        let mut selected = self.selected.lock().await;
        if let Some((read_at, names)) = selected.as_ref()
            && read_at.elapsed() < SELECTED_FOR
        {
            return Ok(names.contains(namespace));
        }
        let namespaces: Api<Namespace> = Api::all(kube.clone());
        let names: HashSet<String> = namespaces
            .list_metadata(&ListParams::default().labels(selector))
            .await?
            .items
            .into_iter()
            .filter_map(|ns| ns.metadata.name)
            .collect();
        let serves = names.contains(namespace);
        *selected = Some((Instant::now(), names));
        Ok(serves)
    }

    fn listed(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|listed| listed == namespace)
    }
}
