//! Waiting on conditions, with a useful report when they don't come true.

use std::fmt::{Debug, Write as _};
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::objects::is_ready;

const MAX_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Polls the object `name` until `cond` holds for it and returns it.
///
/// On timeout it panics with `what`, the object as last seen (JSON, without
/// managedFields) or the last error, and the recent Events of the object in its
/// namespace. A missing object is waited for like any other unmet condition.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    cond: impl Fn(&K) -> bool,
) -> K
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    match poll(api, name, what, timeout, |obj| obj.is_some_and(&cond)).await {
        Some(obj) => obj,
        None => unreachable!("condition held without an object"),
    }
}

/// Polls until the object `name` is gone (404); panics like [`wait_for`] on timeout.
pub async fn wait_for_deletion<K>(api: &Api<K>, name: &str, what: &str, timeout: Duration)
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    poll(api, name, what, timeout, |obj| obj.is_none()).await;
}

async fn poll<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    cond: impl Fn(Option<&K>) -> bool,
) -> Option<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let deadline = Instant::now() + timeout;
    let mut interval = Duration::from_millis(50);
    let mut last: Option<K> = None;
    let mut last_error: Option<String>;
    loop {
        match api.get_opt(name).await {
            Ok(obj) => {
                if cond(obj.as_ref()) {
                    return obj;
                }
                last = obj;
                last_error = None;
            }
            Err(e) => last_error = Some(e.to_string()),
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
    panic!(
        "{}",
        timeout_report(api, name, what, timeout, last, last_error).await
    );
}

async fn timeout_report<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    last: Option<K>,
    last_error: Option<String>,
) -> String
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let ns = api
        .namespace()
        .map(str::to_string)
        .or_else(|| last.as_ref().and_then(|o| o.meta().namespace.clone()));
    let kind = std::any::type_name::<K>()
        .rsplit("::")
        .next()
        .unwrap_or("object");
    let mut r = String::new();
    let _ = writeln!(
        r,
        "timed out after {timeout:?} waiting for {what} ({kind} {}{name})",
        ns.as_deref().map(|n| format!("{n}/")).unwrap_or_default()
    );
    if let Some(e) = last_error {
        let _ = writeln!(r, "last error: {e}");
    }
    match last {
        Some(mut obj) => {
            obj.meta_mut().managed_fields = None;
            let json =
                serde_json::to_string_pretty(&obj).unwrap_or_else(|e| format!("{obj:?} ({e})"));
            let _ = writeln!(r, "--- object as last seen ---\n{json}");
        }
        None => {
            let _ = writeln!(r, "--- object as last seen: not found ---");
        }
    }
    let _ = write!(
        r,
        "{}",
        events_report(api.clone().into_client(), ns.as_deref(), name).await
    );
    r
}

/// The recent core v1 Events whose involvedObject.name is `name`, one per line.
pub async fn events_report(client: kube::Client, ns: Option<&str>, name: &str) -> String {
    let events: Api<Event> = match ns {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let mut r = format!(
        "--- events of {name} in {} ---\n",
        ns.unwrap_or("all namespaces")
    );
    match events.list(&lp).await {
        Ok(list) => {
            let mut items = list.items;
            items.sort_by_key(event_time);
            if items.is_empty() {
                r.push_str("(none)\n");
            }
            for e in items.iter().rev().take(30).rev() {
                let _ = writeln!(
                    r,
                    "{} {} {} {} (x{}) from {}: {}",
                    event_time(e).unwrap_or_default(),
                    e.type_.as_deref().unwrap_or("-"),
                    e.involved_object.kind.as_deref().unwrap_or("-"),
                    e.reason.as_deref().unwrap_or("-"),
                    e.count.unwrap_or(1),
                    e.source
                        .as_ref()
                        .and_then(|s| s.component.as_deref())
                        .or(e.reporting_component.as_deref())
                        .unwrap_or("-"),
                    e.message.as_deref().unwrap_or("")
                );
            }
        }
        Err(e) => {
            let _ = writeln!(r, "(cannot list events: {e})");
        }
    }
    r
}

fn event_time(e: &Event) -> Option<String> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
        .or_else(|| {
            e.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
        })
}

/// Waits until exactly `count` objects exist in `api` and all are Ready; reports the stragglers
/// otherwise.
pub async fn all_ready<K>(api: &Api<K>, count: usize, timeout: Duration)
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let deadline = Instant::now() + timeout;
    loop {
        let list = api.list(&ListParams::default()).await.unwrap().items;
        let waiting: Vec<String> = list
            .iter()
            .filter(|object| !is_ready(*object))
            .map(|object| object.meta().name.clone().unwrap_or_default())
            .collect();
        if list.len() == count && waiting.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} Ready in time; waiting: {waiting:?}",
            list.len() - waiting.len()
        );
        tokio::time::sleep(MAX_POLL_INTERVAL).await;
    }
}
