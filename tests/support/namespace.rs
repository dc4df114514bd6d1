//! Throwaway namespaces, one per test.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Client, Resource};

use super::cluster::{client_from, kubeconfig_path};

/// The label every test namespace carries: `kubectl delete ns -l htx-e2e=true` removes
/// whatever a killed test run left behind.
pub const TEST_NAMESPACE_LABEL: &str = "htx-e2e";

/// Set to 1 to keep the namespaces of the tests (to look at them after a failure).
pub const KEEP_NAMESPACES_ENV: &str = "HTX_E2E_KEEP_NAMESPACES";

/// A namespace with a unique name (`htx-e2e-<random>`), deleted by [`cleanup`] or, failing
/// that, when dropped (also when the test panics), unless `HTX_E2E_KEEP_NAMESPACES=1`.
///
/// [`cleanup`]: TestNamespace::cleanup
pub struct TestNamespace {
    name: String,
    client: Client,
    deleted: bool,
}

impl TestNamespace {
    /// Creates the namespace with the given client (an admin one, see [`super::client`]).
    pub async fn new(client: &Client) -> Self {
        let name = unique_name("htx-e2e");
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([(
                    TEST_NAMESPACE_LABEL.to_string(),
                    "true".to_string(),
                )])),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("cannot create test namespace {name}: {e}"));
        TestNamespace {
            name,
            client: client.clone(),
            deleted: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// An `Api` for namespaced objects of kind `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Asks the API server to delete the namespace (does not wait until it is gone).
    pub async fn cleanup(mut self) {
        self.deleted = true;
        if keep_namespaces() {
            return;
        }
        delete_namespace(&self.client, &self.name).await;
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if self.deleted || keep_namespaces() {
            return;
        }
        // Drop can't await, and the test's runtime may be shutting down, so a thread
        // with its own runtime and its own client does a bounded, best-effort delete.
        let name = std::mem::take(&mut self.name);
        let path = kubeconfig_path();
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(15), async {
                    let client = client_from(&path).await;
                    delete_namespace(&client, &name).await;
                })
                .await;
            });
        });
        let _ = worker.join();
    }
}

async fn delete_namespace(client: &Client, name: &str) {
    match Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => eprintln!("warning: cannot delete test namespace {name}: {e}"),
    }
}

fn keep_namespaces() -> bool {
    std::env::var(KEEP_NAMESPACES_ENV).is_ok_and(|v| v == "1" || v == "true")
}

/// `<prefix>-<8 random lowercase letters and digits>`: a valid DNS-1123 label as long as
/// the prefix is one of at most 54 characters.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    let mut n = h.finish();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let suffix: String = (0..8)
        .map(|_| {
            let c = alphabet[(n % 36) as usize] as char;
            n /= 36;
            c
        })
        .collect();
    format!("{prefix}-{suffix}")
}
