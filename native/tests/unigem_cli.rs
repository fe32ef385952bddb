//! `nucleate train unigem` and `nucleate generate` end to end on committed QM9 data, with a
//! tiny model and few sampling steps so the test stays fast.

use std::path::Path;

mod common;
use common::{bin, kill_after_rows, repo, run};

fn tmp(name: &str) -> std::path::PathBuf {
    common::tmp("unigem", name)
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

/// The command `nucleate train unigem` with the tiny config on the committed 200 QM9 molecules.
fn tiny_command(out: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = bin();
    cmd.args(["train", "unigem", "--config"])
        .arg(repo("configs/unigem-qm9-tiny.toml"))
        .arg("--data")
        .arg(repo("tests/data/datasets/qm9_part1_first200.csv.gz"))
        .arg("-o")
        .arg(out)
        .args(args);
    cmd
}

/// [`tiny_command`], run to its end.
fn train_tiny(out: &Path, args: &[&str]) -> (bool, String, String) {
    run(&mut tiny_command(out, args))
}

#[test]
fn train_then_generate_molecules_and_trajectories_deterministically() {
    let dir = tmp("train");
    let model = dir.join("model");
    let (ok, _, err) = train_tiny(&model, &["--steps", "3", "--batch", "8", "--seed", "0"]);
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

/// Training holds molecules out for the property MAE, resumes from its checkpoint exactly
/// (the resumed model equals an uninterrupted one, byte for byte), and the shipped model still
/// loads. The resume point is past EDM's 50-step clipping queue and clipping acts after it, so
/// the checkpoint must carry the clipping history: restarted from EDM's initial queue, the
/// resumed run would not clip where the uninterrupted one does.
#[test]
fn train_reports_held_out_mae_and_resumes_exactly() {
    let dir = tmp("resume");
    let train = |out: &Path, steps: &str| {
        train_tiny(
            out,
            &[
                "--steps",
                steps,
                "--batch",
                "8",
                "--seed",
                "3",
                "--holdout",
                "40",
            ],
        )
    };
    let straight = dir.join("straight");
    let (ok, out, err) = train(&straight, "70");
    assert!(ok, "{err}");
    assert!(out.contains("MAE") && out.contains("40 held-out"), "{out}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(straight.join("meta.json")).unwrap()).unwrap();
    let mae = meta["property_mae"].as_f64().expect("property_mae");
    assert!(mae.is_finite() && mae > 0.0, "{mae}");
    let split = dir.join("split");
    let (ok, _, err) = train(&split, "60");
    assert!(ok, "{err}");
    let (ok, out, err) = train(&split, "70");
    assert!(ok, "{err}");
    assert!(err.contains("resuming from step 60"), "{err}");
    let clipped: usize = out
        .split_once("10 this run, ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no clipping count in {out}"));
    assert!(
        clipped >= 1,
        "clipping never acted after the resume point: {out}"
    );
    assert!(
        std::fs::read(straight.join("weights.bin")).unwrap()
            == std::fs::read(split.join("weights.bin")).unwrap(),
        "60 + 10 resumed steps give the weights of 70 uninterrupted steps"
    );
}

/// Kill -9 in the middle of a run, rerun the same command: it resumes from the last checkpoint
/// (moments, EMA, clipping queue, data order) and ends on weights byte-identical to those of an
/// uninterrupted run.
#[test]
fn a_killed_run_resumes_byte_identically() {
    let dir = tmp("kill");
    let args = [
        "--steps",
        "150",
        "--batch",
        "8",
        "--seed",
        "5",
        "--checkpoint-every",
        "7",
    ];
    let straight = dir.join("straight");
    let (ok, _, err) = train_tiny(&straight, &args);
    assert!(ok, "{err}");

    let killed = dir.join("killed");
    // A row every 10 steps: kill once step 40 is logged, between checkpoints 35 and 42.
    kill_after_rows(
        &mut tiny_command(&killed, &args),
        &killed.join("metrics.jsonl"),
        4,
    );
    assert!(
        !killed.join("weights.bin").exists(),
        "the killed run got to the end"
    );
    let (ok, _, err) = train_tiny(&killed, &args);
    assert!(ok, "{err}");
    assert!(err.contains("resuming from step"), "{err}");
    let steps: Vec<u64> = std::fs::read_to_string(killed.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            r["step"].as_u64().expect("step")
        })
        .collect();
    assert_eq!(
        steps,
        (1..=15).map(|k| k * 10).collect::<Vec<_>>(),
        "every logged step once"
    );
    assert!(
        std::fs::read(straight.join("weights.bin")).unwrap()
            == std::fs::read(killed.join("weights.bin")).unwrap(),
        "killed and resumed, the run ends on the uninterrupted run's weights"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--split edm` on the whole of QM9 (the shared data directory, see `common::shared_data`): EDM's 100,000 / 17,748 / 13,083 split,
/// seeded and saved, training on its train part and reporting the property MAE on its test part;
/// on too small a dataset the preset is a clear error.
#[test]
fn edm_split_trains_on_100k_and_reports_on_the_test_set() {
    let shared = common::shared_data();
    let dir = tmp("edm");
    let qm9: Vec<_> = (1..=3)
        .map(|k| shared.join(format!("qm9/qm9_part{k}.csv.gz")))
        .collect();
    let model = dir.join("model");
    let (ok, out, err) = run(bin()
        .args(["train", "unigem", "--config"])
        .arg(repo("configs/unigem-qm9-tiny.toml"))
        .arg("--data")
        .args(&qm9)
        .args(["--split", "edm", "--steps", "2", "--batch", "4", "-o"])
        .arg(&model));
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("on 100000 molecules"), "{out}");
    assert!(out.contains("on 13083 held-out molecules"), "{out}");
    let split: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("split.json")).expect("split.json"))
            .expect("JSON");
    let part = |k: &str| -> Vec<u64> {
        split[k]
            .as_array()
            .expect(k)
            .iter()
            .map(|v| v.as_u64().expect("index"))
            .collect()
    };
    let (train, val, test) = (part("train"), part("val"), part("test"));
    assert_eq!(
        (train.len(), val.len(), test.len()),
        (100_000, 17_748, 13_083)
    );
    let mut all: Vec<u64> = train.iter().chain(&val).chain(&test).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 130_831);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("meta.json")).expect("meta")).unwrap();
    assert_eq!(meta["holdout"], 13_083);
    assert!(meta["property_mae"].as_f64().expect("MAE") > 0.0);

    let (ok, _, err) = run(bin()
        .args(["train", "unigem", "--config"])
        .arg(repo("configs/unigem-qm9-tiny.toml"))
        .arg("--data")
        .arg(repo("tests/data/datasets/qm9_part1_first200.csv.gz"))
        .args(["--split", "edm", "--steps", "1", "-o"])
        .arg(dir.join("small")));
    assert!(
        !ok && err.contains("the edm preset needs at least"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--init` continues from a model directory: the step count goes on from its `steps_done`,
/// the weights start from it (so they differ from a fresh run's), and a model of another
/// config or property is refused with a clear error.
#[test]
fn init_continues_training_from_a_model_directory() {
    let dir = tmp("init");
    let train = |out: &Path, steps: &str, extra: &[&str]| {
        let mut args = vec!["--steps", steps, "--batch", "8", "--seed", "5"];
        args.extend_from_slice(extra);
        train_tiny(out, &args)
    };
    let first = dir.join("first");
    let (ok, _, err) = train(&first, "3", &[]);
    assert!(ok, "{err}");
    let cont = dir.join("continued");
    let first_s = first.to_str().expect("utf-8 path");
    let (ok, out, err) = train(&cont, "5", &["--init", first_s]);
    assert!(ok, "{err}");
    assert!(err.contains("continuing from step 3"), "{err}");
    assert!(out.contains("trained 5 steps (2 this run,"), "{out}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cont.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["steps_done"], 5);
    assert_eq!(meta["unit"], "eV", "the label's unit is recorded");
    let fresh = dir.join("fresh");
    let (ok, _, err) = train(&fresh, "2", &[]);
    assert!(ok, "{err}");
    assert_ne!(
        std::fs::read(cont.join("weights.bin")).unwrap(),
        std::fs::read(fresh.join("weights.bin")).unwrap(),
        "the continued run starts from the first run's weights"
    );

    let (ok, _, err) = train(
        &dir.join("prop"),
        "4",
        &["--init", first_s, "--property", "lumo"],
    );
    assert!(!ok && err.contains("predicts `homo`"), "{err}");
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["weights.bin", "meta.json"] {
        std::fs::copy(first.join(f), other.join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(repo("configs/unigem-qm9-tiny.toml")).unwrap();
    let changed = cfg.replacen("hidden_nf = 32", "hidden_nf = 16", 1);
    assert_ne!(cfg, changed, "the tiny config sets hidden_nf = 32");
    std::fs::write(other.join("config.toml"), changed).unwrap();
    let other_s = other.to_str().expect("utf-8 path");
    let (ok, _, err) = train(&dir.join("cfg"), "4", &["--init", other_s]);
    assert!(!ok && err.contains("model config differs"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// UniGEM's training steps on burn's wgpu backend (lavapipe without a GPU) read from the device
/// once on a logged step (every 10th) and never on the others.
#[cfg(feature = "wgpu")]
#[test]
fn training_on_wgpu_reads_once_per_logged_step() {
    let dir = tmp("wgpu");
    let out = dir.join("model");
    let (ok, _, err) = train_tiny(
        &out,
        &[
            "--steps", "20", "--batch", "8", "--seed", "1", "--device", "wgpu",
        ],
    );
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).expect("metrics.jsonl");
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    for r in &rows {
        assert_eq!(r["reads"], 1, "{r}");
        assert_eq!(r["unlogged_reads"], 0, "{r}");
        assert!(r["uploads"].as_u64().expect("uploads") > 0, "{r}");
        for term in ["eps", "type", "prop"] {
            assert!(r[term].as_f64().is_some_and(f64::is_finite), "{term}: {r}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
