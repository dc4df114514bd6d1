//! Holding answers: a call takes effect but its answer waits for a release (e.g. creates
//! whose answers a test wants to hold back).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::watch;

#[derive(Debug)]
pub struct Hold {
    enabled: AtomicBool,
    held: AtomicUsize,
    release: watch::Sender<u64>,
}

impl Default for Hold {
    fn default() -> Self {
        Hold {
            enabled: AtomicBool::new(false),
            held: AtomicUsize::new(0),
            release: watch::Sender::new(0),
        }
    }
}

/// Counts one held response for as long as it lives (also when the client goes away).
struct HeldGuard<'a>(&'a AtomicUsize);

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Hold {
    /// Turning holding off also releases everything held.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Release);
        if !on {
            self.release();
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Lets every held response go; returns how many were held.
    pub fn release(&self) -> usize {
        let n = self.held();
        self.release.send_modify(|g| *g = g.wrapping_add(1));
        n
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Waits for the next release if holding is on.
    pub async fn wait(&self) {
        // Subscribe before checking, so a release between the check and the wait is not missed.
        let mut rx = self.release.subscribe();
        if !self.enabled() {
            return;
        }
        self.held.fetch_add(1, Ordering::AcqRel);
        let _guard = HeldGuard(&self.held);
        let _ = rx.changed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn holds_until_released() {
        let hold = Arc::new(Hold::default());
        hold.wait().await; // disabled: returns at once
        hold.set_enabled(true);
        let h = hold.clone();
        let task = tokio::spawn(async move { h.wait().await });
        while hold.held() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(!task.is_finished());
        assert_eq!(hold.release(), 1);
        task.await.unwrap();
        assert_eq!(hold.held(), 0);
    }
}
