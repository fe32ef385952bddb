//! `nucleate train unigem` and `nucleate generate` end to end on committed QM9 data, with a
//! tiny model and few sampling steps so the test stays fast.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nucleate"))
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nucleate-unigem-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("nucleate runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Frames of an extended XYZ file: (atom count, comment line, atom lines).
fn frames(path: &Path) -> Vec<(usize, String, Vec<String>)> {
    let text = std::fs::read_to_string(path).expect("output written");
    let mut lines = text.lines();
    let mut out = Vec::new();
    while let Some(n) = lines.next() {
        if n.trim().is_empty() {
            continue;
        }
        let n: usize = n.trim().parse().expect("atom count");
        let comment = lines.next().expect("comment").to_owned();
        let atoms: Vec<String> = (0..n)
            .map(|_| lines.next().expect("atom").to_owned())
            .collect();
        out.push((n, comment, atoms));
    }
    out
}

#[test]
fn train_then_generate_molecules_and_trajectories_deterministically() {
    let dir = tmp("train");
    let model = dir.join("model");
    let (ok, _, err) = run(bin()
        .args(["train", "unigem", "--config"])
        .arg(repo("configs/unigem-qm9-tiny.toml"))
        .arg("--data")
        .arg(repo("tests/data/datasets/qm9_part1_first200.csv.gz"))
        .arg("-o")
        .arg(&model)
        .args(["--steps", "3", "--batch", "8", "--seed", "0"]));
    assert!(ok, "train failed: {err}");
    assert!(model.join("weights.bin").is_file() && model.join("config.toml").is_file());

    let generate = |seed: &str, name: &str| {
        let out = dir.join(format!("{name}.extxyz"));
        let traj = dir.join(format!("{name}-traj.extxyz"));
        let (ok, stdout, err) = run(bin()
            .arg("generate")
            .arg("--model")
            .arg(&model)
            .args(["--n", "3", "--steps", "20", "--every", "5", "--seed", seed])
            .arg("-o")
            .arg(&out)
            .arg("--trajectory")
            .arg(&traj));
        assert!(ok, "generate failed: {err}");
        (
            std::fs::read_to_string(&out).expect("molecules"),
            traj,
            stdout,
        )
    };
    let (a, traj, stdout) = generate("7", "a");
    let mols = frames(&dir.join("a.extxyz"));
    assert_eq!(mols.len(), 3, "three molecules");
    assert!(mols.iter().all(|(n, _, _)| *n >= 1));
    let t = frames(&traj);
    assert!(!t.is_empty(), "trajectory has frames");
    assert!(
        t.iter().all(|(_, c, _)| c.contains("pred_species")),
        "{}",
        t[0].1
    );
    assert!(
        stdout.contains("stability") || stdout.contains("atom_stability"),
        "{stdout}"
    );
    let (b, _, _) = generate("7", "b");
    assert_eq!(a, b, "same seed, same molecules");
    let (c, _, _) = generate("8", "c");
    assert_ne!(a, c, "another seed, other molecules");
}

#[test]
fn unknown_target_property_is_a_clear_error() {
    let dir = tmp("target");
    let (ok, _, err) = run(bin()
        .arg("generate")
        .arg("--model")
        .arg(repo("models/unigem-small"))
        .args(["--n", "1", "--steps", "5", "--target", "foo=1"])
        .arg("-o")
        .arg(dir.join("x.extxyz")));
    assert!(!ok);
    assert!(err.contains("foo") && err.contains("homo"), "{err}");
}
