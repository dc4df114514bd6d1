//! Events on the objects (`events.k8s.io/v1`). The same happening again on the same object within
//! [`SERIES_WINDOW`] bumps the series count of the Event already written, as client-go does.
//!
//! Our own instead of kube-runtime's `Recorder`: that one keeps every Event it wrote, whole, and
//! scans all of them on each publish; after 10,000 objects were created at once it held some
//! 30,000 Events (tens of MiB) until the next publish. Here an Event costs one small record, and
//! records past the window are dropped on a timer ([`EventRecorder::forget_expired`]).

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde_json::json;

/// How long a repeat counts as the same Event (client-go's series window is the same 6 minutes).
pub const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// Who reports: the controller, and which replica of it.
const CONTROLLER: &str = "htx-operator";

pub struct EventRecorder {
    client: kube::Client,
    instance: String,
    written: Mutex<Written>,
}

impl EventRecorder {
    pub fn new(client: kube::Client, instance: String) -> Self {
        Self {
            client,
            instance,
            written: Mutex::default(),
        }
    }

    /// Writes the Event, or counts a repeat of one written within the window.
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        warning: bool,
        reason: &str,
        note: String,
    ) -> Result<(), kube::Error> {
        let regarding = object.object_ref(&());
        let namespace = regarding.namespace.clone().unwrap_or_default();
        let key = Key {
            uid: regarding.uid.clone().unwrap_or_default(),
            reason: reason.to_owned(),
            warning,
        };
        let now = Timestamp::now();
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let repeat = self
            .written
            .lock()
            .expect("events written")
            .repeat(&key, now);
        let name = match repeat {
            Some(Repeat { name, count }) => {
                let series = EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                };
                let patch = json!({ "series": series });
                match events
                    .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                {
                    Err(kube::Error::Api(status)) if status.code == 404 => {
                        self.create(&events, regarding, warning, reason, note, now)
                            .await?
                    }
                    other => other.map(|_| name)?,
                }
            }
            None => {
                self.create(&events, regarding, warning, reason, note, now)
                    .await?
            }
        };
        self.written
            .lock()
            .expect("events written")
            .record(key, name, now);
        Ok(())
    }

    async fn create(
        &self,
        events: &Api<Event>,
        regarding: ObjectReference,
        warning: bool,
        reason: &str,
        note: String,
        now: Timestamp,
    ) -> Result<String, kube::Error> {
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(CONTROLLER),
            now.as_nanosecond()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            action: Some("Reconcile".to_owned()),
            reason: Some(reason.to_owned()),
            note: Some(note),
            type_: Some(if warning { "Warning" } else { "Normal" }.to_owned()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding),
            reporting_controller: Some(CONTROLLER.to_owned()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        events.create(&PostParams::default(), &event).await?;
        Ok(name)
    }

    /// Drops the records of Events last seen before the window.
    pub fn forget_expired(&self) {
        let cutoff = Timestamp::now() - SERIES_WINDOW;
        self.written
            .lock()
            .expect("events written")
            .forget_before(cutoff);
    }
}

/// One kind of happening on one object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    reason: String,
    warning: bool,
}

#[derive(Debug)]
struct Record {
    name: String,
    count: i32,
    last: Timestamp,
}

#[derive(Debug, PartialEq)]
struct Repeat {
    name: String,
    count: i32,
}

/// The Events written within the window, by what they were about.
#[derive(Debug, Default)]
struct Written {
    by_key: HashMap<Key, Record>,
}

impl Written {
    /// The Event to count `key` against at `now`, if one was written within the window.
    fn repeat(&self, key: &Key, now: Timestamp) -> Option<Repeat> {
        let record = self.by_key.get(key)?;
        (now.duration_since(record.last) < SERIES_WINDOW).then(|| Repeat {
            name: record.name.clone(),
            count: record.count + 1,
        })
    }

    /// Notes that Event `name` was written or counted for `key` at `now`.
    fn record(&mut self, key: Key, name: String, now: Timestamp) {
        let record = self.by_key.entry(key).or_insert(Record {
            name: String::new(),
            count: 0,
            last: now,
        });
        record.count = if record.name == name {
            record.count + 1
        } else {
            1
        };
        record.name = name;
        record.last = now;
    }

    fn forget_before(&mut self, cutoff: Timestamp) {
        self.by_key.retain(|_, record| record.last >= cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(reason: &str) -> Key {
        Key {
            uid: "uid-1".into(),
            reason: reason.into(),
            warning: true,
        }
    }

    #[test]
    fn a_repeat_within_the_window_counts_against_the_first_event() {
        let mut written = Written::default();
        let start = Timestamp::now();
        assert_eq!(written.repeat(&key("Unauthorized"), start), None);
        written.record(key("Unauthorized"), "db.1".into(), start);

        let soon = start + SignedDuration::from_secs(30);
        let repeat = written.repeat(&key("Unauthorized"), soon).unwrap();
        assert_eq!(
            repeat,
            Repeat {
                name: "db.1".into(),
                count: 2
            }
        );
        written.record(key("Unauthorized"), repeat.name, soon);
        let later = soon + SignedDuration::from_secs(30);
        assert_eq!(
            written.repeat(&key("Unauthorized"), later).unwrap().count,
            3
        );

        assert_eq!(
            written.repeat(&key("Created"), soon),
            None,
            "another reason is another Event"
        );
    }

    #[test]
    fn the_window_counts_from_the_last_repeat() {
        let mut written = Written::default();
        let start = Timestamp::now();
        written.record(key("Unauthorized"), "db.1".into(), start);
        let late = start + SERIES_WINDOW;
        assert_eq!(written.repeat(&key("Unauthorized"), late), None);

        written.record(key("Unauthorized"), "db.2".into(), late);
        let repeat = written.repeat(&key("Unauthorized"), late + SignedDuration::from_secs(1));
        assert_eq!(
            repeat,
            Some(Repeat {
                name: "db.2".into(),
                count: 2
            }),
            "a new series"
        );
    }

    #[test]
    fn expired_records_are_forgotten() {
        let mut written = Written::default();
        let start = Timestamp::now();
        written.record(key("Created"), "db.1".into(), start);
        written.record(key("Ready"), "db.2".into(), start + SERIES_WINDOW);
        written.forget_before(start + SignedDuration::from_secs(1));
        assert_eq!(written.by_key.len(), 1);
        assert!(written.by_key.contains_key(&key("Ready")));
    }
}
