//! Shared, short-lived portal lists: one list call per product and token serves every object
//! using that token. Concurrent readers of a stale snapshot wait for a single refresh.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::http::PortalError;

/// One list, by portal name.
pub struct Snapshot<T> {
    pub taken_at: Instant,
    pub by_name: HashMap<String, T>,
}

/// What one token's slot holds: the last list, the last failure to list, and since when lists
/// taken before are known to be behind (see [`Snapshots::outdate`]).
struct Held<T> {
    snapshot: Option<Arc<Snapshot<T>>>,
    failure: Option<(Instant, PortalError)>,
    outdated_at: Option<Instant>,
}

impl<T> Default for Held<T> {
    fn default() -> Self {
        Self {
            snapshot: None,
            failure: None,
            outdated_at: None,
        }
    }
}

type Slot<T> = Arc<tokio::sync::Mutex<Held<T>>>;

/// Snapshots of one product, one per token (keyed by the token's fingerprint).
pub struct Snapshots<T> {
    slots: Mutex<HashMap<u64, Slot<T>>>,
    /// The oldest snapshot any reader accepts, when known: one older than that is let go before
    /// the list that replaces it, so that two lists are never held at once.
    max_age: Option<Duration>,
}

impl<T> Default for Snapshots<T> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            max_age: None,
        }
    }
}

impl<T> Snapshots<T> {
    /// Snapshots for readers that never accept one older than `max_age`.
    pub fn serving_at_most(max_age: Duration) -> Self {
        Self {
            max_age: Some(max_age),
            ..Self::default()
        }
    }

    /// A snapshot taken at or after `not_before`, listing with `fetch` when the one held is older.
    /// A list that failed at or after `not_before` is that failure again, without listing: during
    /// an outage the objects waiting on one token share one failed list, not one each.
    pub async fn get<F, Fut>(
        &self,
        token: u64,
        not_before: Instant,
        fetch: F,
    ) -> Result<Arc<Snapshot<T>>, PortalError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<(String, T)>, PortalError>>,
    {
        let slot = self
            .slots
            .lock()
            .expect("snapshot registry")
            .entry(token)
            .or_default()
            .clone();
        let mut held = slot.lock().await;
        let not_before = held.outdated_at.map_or(not_before, |at| at.max(not_before));
        if let Some(snapshot) = held.snapshot.as_ref() {
            if snapshot.taken_at >= not_before {
                return Ok(snapshot.clone());
            }
            if self
                .max_age
                .is_some_and(|age| snapshot.taken_at.elapsed() > age)
            {
                held.snapshot = None;
            }
        }
        if let Some((failed_at, error)) = &held.failure
            && *failed_at >= not_before
        {
            return Err(error.clone());
        }
        let started = Instant::now();
        match fetch().await {
            Ok(items) => {
                let snapshot = Arc::new(Snapshot {
                    taken_at: started,
                    by_name: items.into_iter().collect(),
                });
                held.snapshot = Some(snapshot.clone());
                held.failure = None;
                Ok(snapshot)
            }
            Err(error) => {
                held.failure = Some((started, error.clone()));
                Err(error)
            }
        }
    }

    /// A write of this token's changed what the lists show: no list taken before now is served
    /// again (a PaaS data store stopped or updated in place, say).
    pub async fn outdate(&self, token: u64) {
        let slot = self
            .slots
            .lock()
            .expect("snapshot registry")
            .entry(token)
            .or_default()
            .clone();
        slot.lock().await.outdated_at = Some(Instant::now());
    }

    /// Drops the slots of tokens whose list no reader would accept any more (see
    /// [`Snapshots::serving_at_most`]): a token seen once, then rotated away, costs nothing for
    /// long.
    pub fn forget_stale(&self) {
        let Some(max_age) = self.max_age else {
            return;
        };
        self.slots
            .lock()
            .expect("snapshot registry")
            .retain(|_, slot| {
                let Ok(held) = slot.try_lock() else {
                    return true;
                };
                let newest = held
                    .snapshot
                    .as_ref()
                    .map(|s| s.taken_at)
                    .into_iter()
                    .chain(held.failure.as_ref().map(|(at, _)| *at))
                    .max();
                newest.is_some_and(|at| at.elapsed() <= max_age)
            });
    }

    /// How many tokens hold a slot (for tests and the memory benchmark).
    pub fn tokens_held(&self) -> usize {
        self.slots.lock().expect("snapshot registry").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Weak;

    fn within(age: Duration) -> Instant {
        Instant::now().checked_sub(age).unwrap_or_else(Instant::now)
    }
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn concurrent_readers_share_one_list() {
        let snapshots = Arc::new(Snapshots::<u32>::default());
        let lists = Arc::new(AtomicUsize::new(0));
        let mut readers = Vec::new();
        for _ in 0..20 {
            let snapshots = snapshots.clone();
            let lists = lists.clone();
            readers.push(tokio::spawn(async move {
                snapshots
                    .get(1, within(Duration::from_secs(60)), || async {
                        lists.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(vec![("a".to_owned(), 1)])
                    })
                    .await
                    .unwrap()
            }));
        }
        for reader in readers {
            assert_eq!(reader.await.unwrap().by_name["a"], 1);
        }
        assert_eq!(lists.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_outdated_list_is_never_served_again() {
        let snapshots = Snapshots::<u32>::default();
        let list = |value| move || async move { Ok(vec![("a".to_owned(), value)]) };
        let long = within(Duration::from_secs(600));
        snapshots.get(1, long, list(1)).await.unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        snapshots.outdate(1).await;
        assert_eq!(
            snapshots.get(1, long, list(2)).await.unwrap().by_name["a"],
            2
        );
        assert_eq!(
            snapshots.get(1, long, list(3)).await.unwrap().by_name["a"],
            2,
            "one taken after is served as before"
        );
        assert_eq!(
            snapshots.get(2, long, list(4)).await.unwrap().by_name["a"],
            4
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_needing_fresher_data_refreshes() {
        let snapshots = Snapshots::<u32>::default();
        let list = |value| move || async move { Ok(vec![("a".to_owned(), value)]) };
        snapshots
            .get(1, within(Duration::from_secs(60)), list(1))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(10)).await;
        let relaxed = snapshots
            .get(1, within(Duration::from_secs(60)), list(2))
            .await
            .unwrap();
        assert_eq!(relaxed.by_name["a"], 1);
        let eager = snapshots
            .get(1, within(Duration::from_secs(5)), list(3))
            .await
            .unwrap();
        assert_eq!(eager.by_name["a"], 3);
        let other_token = snapshots
            .get(2, within(Duration::from_secs(60)), list(4))
            .await
            .unwrap();
        assert_eq!(other_token.by_name["a"], 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_snapshot_no_reader_accepts_is_let_go_before_the_next_list() {
        let snapshots = Snapshots::<Arc<u32>>::serving_at_most(Duration::from_secs(60));
        let first = snapshots
            .get(1, within(Duration::from_secs(60)), || async {
                Ok(vec![("a".to_owned(), Arc::new(1))])
            })
            .await
            .unwrap();
        let first_item = Arc::downgrade(&first.by_name["a"]);
        drop(first);

        // Still within the oldest age accepted: a reader wanting fresher data lists while the
        // held snapshot stays, for readers that accept it.
        tokio::time::advance(Duration::from_secs(30)).await;
        let list_while = |expect_held: bool, value: u32, item: Weak<u32>| {
            move || async move {
                assert_eq!(item.upgrade().is_some(), expect_held);
                Ok(vec![("a".to_owned(), Arc::new(value))])
            }
        };
        let second = snapshots
            .get(
                1,
                within(Duration::from_secs(5)),
                list_while(true, 2, first_item),
            )
            .await
            .unwrap();
        let second_item = Arc::downgrade(&second.by_name["a"]);
        drop(second);

        // Past it: nobody can use the held one, so it is gone before the list.
        tokio::time::advance(Duration::from_secs(61)).await;
        let third = snapshots
            .get(
                1,
                within(Duration::from_secs(60)),
                list_while(false, 3, second_item),
            )
            .await
            .unwrap();
        assert_eq!(*third.by_name["a"], 3);
    }

    #[tokio::test(start_paused = true)]
    async fn readers_during_an_outage_share_one_failed_list() {
        let snapshots = Arc::new(Snapshots::<u32>::default());
        let lists = Arc::new(AtomicUsize::new(0));
        let failing = |lists: Arc<AtomicUsize>| {
            move || async move {
                lists.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err::<Vec<(String, u32)>, _>(PortalError::Server {
                    status: 503,
                    message: None,
                })
            }
        };
        let mut readers = Vec::new();
        for _ in 0..20 {
            let snapshots = snapshots.clone();
            let fetch = failing(lists.clone());
            readers.push(tokio::spawn(async move {
                snapshots
                    .get(1, within(Duration::from_secs(5)), fetch)
                    .await
                    .map(drop)
            }));
        }
        for reader in readers {
            assert!(reader.await.unwrap().is_err());
        }
        assert_eq!(lists.load(Ordering::SeqCst), 1, "one list for all of them");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(
            snapshots
                .get(1, within(Duration::from_secs(5)), failing(lists.clone()))
                .await
                .is_err()
        );
        assert_eq!(
            lists.load(Ordering::SeqCst),
            2,
            "a later reader lists again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slots_no_reader_accepts_are_forgotten() {
        let snapshots = Snapshots::<u32>::serving_at_most(Duration::from_secs(60));
        for token in [1, 2] {
            snapshots
                .get(token, Instant::now(), || async { Ok(vec![]) })
                .await
                .unwrap();
        }
        tokio::time::advance(Duration::from_secs(40)).await;
        snapshots
            .get(2, Instant::now(), || async { Ok(vec![]) })
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(30)).await;
        snapshots.forget_stale();
        assert_eq!(
            snapshots.tokens_held(),
            1,
            "token 1 was last listed 70 s ago"
        );
    }

    #[tokio::test]
    async fn a_failed_list_keeps_no_data_and_a_later_reader_lists_again() {
        let snapshots = Snapshots::<u32>::default();
        let failed = snapshots
            .get(1, within(Duration::from_secs(60)), || async {
                Err(PortalError::Server {
                    status: 503,
                    message: None,
                })
            })
            .await;
        assert!(failed.is_err());
        let next = snapshots
            .get(1, Instant::now(), || async {
                Ok(vec![("a".to_owned(), 7)])
            })
            .await
            .unwrap();
        assert_eq!(next.by_name["a"], 7);
    }
}
