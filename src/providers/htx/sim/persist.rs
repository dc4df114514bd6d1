//! `--state FILE`: load at start, save (write a temporary file, then rename) after changes.
//! Saves are coalesced for a few milliseconds so bulk creates do not rewrite the file each time.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::error::SimError;
use super::handle::Shared;
use super::store::StateFile;

const COALESCE: Duration = Duration::from_millis(50);

/// Reads the state file; a missing file is no state.
pub(crate) fn load(path: &Path) -> Result<Option<StateFile>, SimError> {
    let err = |message: String| SimError::State {
        path: path.to_owned(),
        message,
    };
    match fs::read(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(e.to_string())),
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| err(format!("not a simulator state file: {e}"))),
    }
}

/// Writes the store if it changed since `saved` (a store version); returns the saved version.
pub(crate) fn save(shared: &Shared, path: &Path, saved: u64) -> io::Result<u64> {
    let snapshot = shared.store().snapshot();
    if snapshot.version == saved {
        return Ok(saved);
    }
    let bytes = snapshot.to_json()?;
    write_atomic(path, &bytes)?;
    Ok(snapshot.version)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "state path has no file name"))?
        .to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// Saves after changes until shutdown; returns the last saved version.
pub(crate) async fn saver(
    shared: Arc<Shared>,
    path: PathBuf,
    mut shutdown: watch::Receiver<bool>,
) -> u64 {
    let mut saved = shared.store().version();
    loop {
        tokio::select! {
            _ = shared.changed.notified() => {}
            _ = shutdown.changed() => return saved,
        }
        tokio::time::sleep(COALESCE).await;
        let (s, p) = (shared.clone(), path.clone());
        match tokio::task::spawn_blocking(move || save(&s, &p, saved)).await {
            Ok(Ok(v)) => saved = v,
            Ok(Err(e)) => tracing::warn!(path = %path.display(), error = %e, "cannot save state"),
            Err(e) => tracing::warn!(error = %e, "state saver task failed"),
        }
    }
}
