//! Helpers shared by the CLI integration tests: the binary, repository paths, scratch
//! directories and running a command to (success, stdout, stderr).
// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `nucleate` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nucleate"))
}

/// A path relative to the repository root.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A fresh scratch directory `nucleate-<suite>-<pid>-<name>` in the system temp dir.
pub fn tmp(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nucleate-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `cmd`: whether it succeeded, its stdout and its stderr.
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("nucleate runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The team's shared data directory (full QM9 and friends, too large to commit):
/// `$NUCLEATE_SHARED_DATA`, else `../shared/data` beside the repository.
///
/// # Panics
/// When neither holds `qm9/`: a test that needs the whole dataset fails, saying where it looked,
/// rather than passing without checking anything.
pub fn shared_data() -> PathBuf {
    let path = std::env::var_os("NUCLEATE_SHARED_DATA")
        .map_or_else(|| repo("../shared/data"), PathBuf::from);
    assert!(
        path.join("qm9").is_dir(),
        "the shared data directory {} has no qm9/: set NUCLEATE_SHARED_DATA to the directory \
         holding qm9/, rmd17/ and crystals/ (see docs/data.md)",
        path.display()
    );
    path
}

/// Spawns `cmd` (output discarded), waits until `metrics` (a run's `metrics.jsonl`) has `rows`
/// lines, then kills it with SIGKILL: a run stopped between checkpoints, as by a crash.
///
/// # Panics
/// When the run ends by itself first, or takes longer than five minutes to log `rows` rows.
pub fn kill_after_rows(cmd: &mut Command, metrics: &Path, rows: usize) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        let done = std::fs::read_to_string(metrics)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if done >= rows {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "run too slow");
        assert!(
            child.try_wait().expect("child status").is_none(),
            "run ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}
