//! Helpers shared by the CLI integration tests: the binary, repository paths, scratch
//! directories and running a command to (success, stdout, stderr).
// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

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
