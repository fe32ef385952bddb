//! File-system helpers shared by the commands.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the directory).
///
/// # Errors
/// I/O errors, with the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
    }
    commit(&tmp, path)
}

/// Moves the finished temporary file `tmp` into place at `path` durably: fsync of its data,
/// rename, fsync of the directory. The one way files are made to appear whole (checkpoints,
/// models, PNGs, dataset shards), so a killed process leaves the old file or the new one.
///
/// # Errors
/// I/O errors, with the paths.
pub fn commit(tmp: &Path, path: &Path) -> anyhow::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("flushing {}", tmp.display()))?;
    std::fs::rename(tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        // Best effort: makes the rename itself durable where the platform allows it.
        let _ = d.sync_all();
    }
    Ok(())
}
