//! `nucleate model summary CONFIG [--json]`: the JSON contract, counts against the published
//! sizes of the architectures (docs/backbones.md §2.7, §4.6), and errors naming the file.

mod common;

use common::{bin, repo, run, tmp};

fn summary(config: &str) -> serde_json::Value {
    let (ok, out, err) = run(bin().args(["model", "summary", "--json"]).arg(repo(config)));
    assert!(ok, "{config}: {err}");
    serde_json::from_str(&out).expect("one JSON object")
}

#[test]
fn summary_json_counts_the_published_models() {
    // SCD's CT 256/8/64 ("CT 9.2M"); the element embedding (118 × 256) and the mask token (256)
    // are frozen in pretraining, so they are not trainable.
    let ct = summary("configs/ct-pcq-scd.toml");
    assert_eq!(ct["backbone"], "ct");
    assert_eq!(ct["params"], 9_173_272);
    assert_eq!(ct["params_trainable"], 9_173_272 - 118 * 256 - 256);
    let modules = ct["modules"].as_object().expect("modules");
    let sum: u64 = modules.values().map(|v| v.as_u64().expect("count")).sum();
    assert_eq!(sum, 9_173_272, "{modules:?}");
    // EDM's QM9 EGNN: 9 blocks of 592,897 + embedding in/out.
    let egnn = summary("configs/egnn-qm9-edm.toml");
    assert_eq!(egnn["backbone"], "egnn");
    assert_eq!(egnn["params"], 5_339_920);
    assert_eq!(egnn["params_trainable"], 5_339_920);
}

#[test]
fn summary_errors_name_the_file_and_the_key() {
    let dir = tmp("model-cli", "errors");
    let missing = dir.join("nope.toml");
    let (ok, _, err) = run(bin().args(["model", "summary"]).arg(&missing));
    assert!(!ok);
    assert!(err.contains("nope.toml"), "{err}");
    let text = std::fs::read_to_string(repo("configs/egnn-qm9-edm.toml")).expect("config");
    let bad = dir.join("bad.toml");
    // A misspelt extra key (the real one stays): unknown keys are errors, named.
    let misspelt = text.replacen("hidden_nf = 256", "hidden_nf = 256\nhiden_nf = 3", 1);
    assert_ne!(misspelt, text);
    std::fs::write(&bad, misspelt).expect("write");
    let (ok, _, err) = run(bin().args(["model", "summary", "--json"]).arg(&bad));
    assert!(!ok);
    assert!(
        err.contains("bad.toml") && err.contains("hiden_nf"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
