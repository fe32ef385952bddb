//! `nucleate data …` end to end: inspect (JSON contract, errors with line and field, exit
//! codes, compressed input), convert → read back (bit-exact round trip), random access,
//! dataset statistics and reproducible splits. Data: the committed slices in
//! `tests/data/datasets/` (QM9, perov_5, rMD17) and `tests/data/reader_samples/`.

use nucleate_core::Structure;
use nucleate_core::structure::{AtomArray, LabelValue};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/datasets")
        .join(name)
}

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/reader_samples")
        .join(rel)
}

/// A fresh temporary directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nucleate-data-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

fn nucleate(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nucleate"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("nucleate runs")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "nucleate failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("slice exists"))
        .read_to_string(&mut text)
        .expect("valid gzip text");
    text
}

/// The inputs of the round-trip tests, read directly with `core`'s readers.
fn reference_structures() -> Vec<(PathBuf, Vec<Structure>)> {
    let qm9 = data("qm9_part1_first200.csv.gz");
    let perov = data("perov_5_dev_train_first10.csv");
    let rmd17 = data("rmd17_ethanol_first5.npz");
    vec![
        (
            qm9.clone(),
            nucleate_core::io::qm9::read_qm9_csv(&gunzip(&qm9)).expect("QM9 slice parses"),
        ),
        (
            perov.clone(),
            nucleate_core::io::crystal_csv::read_crystal_csv(
                &std::fs::read_to_string(&perov).expect("perov slice exists"),
            )
            .expect("perov slice parses"),
        ),
        (
            rmd17.clone(),
            nucleate_core::io::npz::read_rmd17(&std::fs::read(&rmd17).expect("npz exists"))
                .expect("rMD17 slice parses"),
        ),
    ]
}

fn convert_reference(dir: &Path) -> Vec<Structure> {
    let refs = reference_structures();
    let out = nucleate(&[
        &"data",
        &"convert",
        &refs[0].0,
        &refs[1].0,
        &refs[2].0,
        &"-o",
        &dir,
        &"--shard-size",
        &"64",
        &"--row-group-size",
        &"16",
    ]);
    assert_ok(&out);
    refs.into_iter()
        .flat_map(|(path, structures)| {
            structures.into_iter().map(move |mut s| {
                s.source = path.display().to_string();
                s
            })
        })
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// `got` (one object of `data get --json`) holds exactly `want`.
fn assert_same(got: &Value, want: &Structure, what: &str) {
    assert_eq!(got["source"], want.source.as_str(), "{what}: source");
    assert_eq!(
        got["record_index"], want.record_index,
        "{what}: record index"
    );
    assert_eq!(got["comment"], want.comment.as_str(), "{what}: comment");
    let numbers: Vec<u8> = got["numbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .map(|z| u8::try_from(z.as_u64().expect("integer")).expect("u8"))
        .collect();
    assert_eq!(numbers, want.numbers, "{what}: numbers");
    let positions: Vec<f64> = got["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .flat_map(f64s)
        .collect();
    let want_positions: Vec<f64> = want.positions.iter().flatten().copied().collect();
    assert_eq!(positions, want_positions, "{what}: positions (bit-exact)");
    match want.lattice {
        None => assert!(got["lattice"].is_null(), "{what}: lattice"),
        Some(l) => {
            let rows: Vec<Vec<f64>> = got["lattice"]
                .as_array()
                .expect("lattice")
                .iter()
                .map(f64s)
                .collect();
            assert_eq!(
                rows,
                l.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
                "{what}: lattice"
            );
        }
    }
    assert_eq!(got["pbc"], serde_json::json!(want.pbc), "{what}: pbc");
    let labels = got["labels"].as_object().expect("labels");
    assert_eq!(
        labels.len(),
        want.labels.len(),
        "{what}: label names {:?}",
        labels.keys()
    );
    for (name, label) in &want.labels {
        let g = &labels[name];
        assert_eq!(
            g["unit"],
            serde_json::json!(label.unit),
            "{what}: unit of {name}"
        );
        let v = &g["value"];
        match &label.value {
            LabelValue::Float(x) => assert_eq!(v.as_f64(), Some(*x), "{what}: {name}"),
            LabelValue::Int(x) => assert_eq!(v.as_i64(), Some(*x), "{what}: {name}"),
            LabelValue::Bool(x) => assert_eq!(v.as_bool(), Some(*x), "{what}: {name}"),
            LabelValue::Text(x) => assert_eq!(v.as_str(), Some(x.as_str()), "{what}: {name}"),
            LabelValue::Floats(x) => assert_eq!(&f64s(v), x, "{what}: {name}"),
        }
    }
    let arrays = got["atom_arrays"].as_object().expect("atom arrays");
    assert_eq!(
        arrays.len(),
        want.atom_arrays.len(),
        "{what}: arrays {:?}",
        arrays.keys()
    );
    for (name, array) in &want.atom_arrays {
        let g = &arrays[name];
        assert_eq!(g["width"], array.width(), "{what}: width of {name}");
        match array {
            AtomArray::Float { values, .. } => {
                assert_eq!(&f64s(&g["values"]), values, "{what}: {name}")
            }
            AtomArray::Text { values, .. } => {
                assert_eq!(g["values"], serde_json::json!(values), "{what}: {name}")
            }
            AtomArray::Int { values, .. } => {
                assert_eq!(g["values"], serde_json::json!(values), "{what}: {name}")
            }
            AtomArray::Bool { values, .. } => {
                assert_eq!(g["values"], serde_json::json!(values), "{what}: {name}")
            }
        }
    }
}

#[test]
fn inspect_json_reports_each_file_and_fails_on_bad_ones() {
    let dir = scratch("inspect");
    let bad = dir.join("bad.xyz");
    std::fs::write(&bad, "2\nwater fragment\nO 0.0 0.0 0.0\nH 0.9 oops 0.0\n").expect("write");
    let qm9 = data("qm9_part1_first20.csv");
    let perov = data("perov_5_dev_train_first10.csv");
    let npz = data("rmd17_ethanol_first5.npz");
    let missing = dir.join("missing.xyz");
    let out = nucleate(&[
        &"data", &"inspect", &"--json", &qm9, &bad, &perov, &npz, &missing,
    ]);
    assert!(
        !out.status.success(),
        "a failing file must give a non-zero exit code"
    );
    let reports = stdout_json(&out);
    let reports = reports.as_array().expect("one JSON array");
    assert_eq!(reports.len(), 5, "one object per file, failures included");

    let q = &reports[0];
    assert_eq!(q["ok"], true);
    assert_eq!(q["path"], qm9.display().to_string());
    assert_eq!(q["frames"], 20);
    assert_eq!(q["n_atoms"], 5);
    assert_eq!(q["elements"], serde_json::json!({"C": 1, "H": 4}));
    assert!(q["cell"].is_null());
    assert_eq!(q["pbc"], serde_json::json!([false, false, false]));
    // Methane, dsgdb9nsd_000001.xyz, as written in the CSV.
    assert_eq!(
        q["positions_first3"],
        serde_json::json!([
            [-0.0126981359, 1.0858041578, 0.0080009958],
            [0.002150416, -0.0060313176, 0.0019761204],
            [1.0117308433, 1.4637511618, 0.0002765748]
        ])
    );
    assert!(q.get("error").is_none(), "no error key on success");

    let b = &reports[1];
    assert_eq!(b["ok"], false);
    let msg = b["error"].as_str().expect("error message");
    assert!(
        msg.contains("line 4") && msg.contains("\"y\"") && msg.contains("oops"),
        "{msg}"
    );
    assert!(msg.contains("bad.xyz"), "{msg}");

    let p = &reports[2];
    assert_eq!(p["ok"], true);
    assert_eq!(
        (p["frames"].as_u64(), p["n_atoms"].as_u64()),
        (Some(10), Some(5))
    );
    assert_eq!(p["pbc"], serde_json::json!([true, true, true]));
    let cell: Vec<Vec<f64>> = p["cell"]
        .as_array()
        .expect("3x3 cell")
        .iter()
        .map(f64s)
        .collect();
    assert_eq!(cell.len(), 3);
    assert!(cell.iter().all(|row| row.len() == 3));

    let e = &reports[3];
    assert_eq!(
        (e["frames"].as_u64(), e["n_atoms"].as_u64()),
        (Some(5), Some(9))
    );
    assert_eq!(e["elements"], serde_json::json!({"C": 2, "H": 6, "O": 1}));

    assert_eq!(reports[4]["ok"], false);
    assert!(
        reports[4]["error"]
            .as_str()
            .expect("message")
            .contains("missing.xyz")
    );

    // Only good files: exit code 0; the readable summary names every file.
    let good = nucleate(&[&"data", &"inspect", &qm9, &perov]);
    assert_ok(&good);
    let text = String::from_utf8_lossy(&good.stdout);
    assert!(
        text.contains("qm9_part1_first20.csv: 20 structure(s)"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn inspect_reads_gzip_xz_and_bzip2_like_plain_files() {
    let dir = scratch("compressed");
    let plain = sample("chemfiles_tests_data/xyz/extended.xyz");
    let bytes = std::fs::read(&plain).expect("sample exists");
    let xz = dir.join("extended.xyz.xz");
    let mut packed = Vec::new();
    lzma_rs::xz_compress(&mut bytes.as_slice(), &mut packed).expect("xz");
    std::fs::write(&xz, packed).expect("write");
    let bz2 = dir.join("extended.xyz.bz2");
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    enc.write_all(&bytes).expect("bzip2");
    std::fs::write(&bz2, enc.finish().expect("bzip2")).expect("write");
    // Magic bytes win over the name: gzip data under a plain `.xyz` name.
    let gz_named_plain = dir.join("disguised.xyz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&bytes).expect("gzip");
    std::fs::write(&gz_named_plain, enc.finish().expect("gzip")).expect("write");

    let out = nucleate(&[
        &"data",
        &"inspect",
        &"--json",
        &plain,
        &xz,
        &bz2,
        &gz_named_plain,
    ]);
    assert_ok(&out);
    let reports = stdout_json(&out);
    let reports = reports.as_array().expect("array");
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().expect("object").remove("path");
        v
    };
    for r in &reports[1..] {
        assert_eq!(strip(r), strip(&reports[0]), "{}", r["path"]);
    }
    assert_eq!(reports[0]["frames"], 3);

    // The committed gzip slice of QM9 reads like its plain prefix.
    let gz = nucleate(&[
        &"data",
        &"inspect",
        &"--json",
        &data("qm9_part1_first200.csv.gz"),
    ]);
    assert_ok(&gz);
    let r = &stdout_json(&gz)[0];
    assert_eq!(r["frames"], 200);
    assert_eq!(r["n_atoms"], 5);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn convert_then_read_back_gives_the_input_structures() {
    let dir = scratch("roundtrip");
    let ds = dir.join("ds");
    let want = convert_reference(&ds);
    assert_eq!(want.len(), 215);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(ds.join("manifest.json")).expect("manifest"))
            .expect("manifest is JSON");
    assert_eq!(manifest["n_structures"], 215);
    let shards = manifest["shards"].as_array().expect("shards");
    assert_eq!(shards.len(), 4, "215 structures in shards of 64");
    assert_eq!(shards[0]["row_groups"], serde_json::json!([16, 16, 16, 16]));
    for s in shards {
        assert!(ds.join(s["file"].as_str().expect("name")).is_file());
    }
    let sources = manifest["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 3);
    assert_eq!(sources[0]["n_structures"], 200);
    assert_eq!(sources[0]["sha256"].as_str().map(str::len), Some(64));
    let units = manifest["columns"].as_array().expect("columns");
    let homo = units
        .iter()
        .find(|c| c["name"] == "homo")
        .expect("homo column");
    assert_eq!(homo["unit"], "eV");

    let out = nucleate(&[&"data", &"get", &ds, &"--json"]);
    assert_ok(&out);
    let got = stdout_json(&out);
    let got = got.as_array().expect("array");
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g["index"], i);
        assert_same(g, w, &format!("structure {i}"));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn random_access_returns_the_structure_at_each_index() {
    let dir = scratch("random");
    let ds = dir.join("ds");
    let want = convert_reference(&ds);
    // Shard and row-group boundaries (64 per shard, 16 per row group) and both ends.
    let picks = [214usize, 0, 15, 16, 63, 64, 127, 128, 200, 209];
    let args: Vec<String> = picks.iter().map(usize::to_string).collect();
    let mut argv: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"data", &"get", &ds, &"--json"];
    argv.extend(args.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>));
    let out = nucleate(&argv);
    assert_ok(&out);
    let got = stdout_json(&out);
    for (g, &i) in got.as_array().expect("array").iter().zip(&picks) {
        assert_eq!(g["index"], i);
        assert_same(g, &want[i], &format!("structure {i}"));
    }
    let past = nucleate(&[&"data", &"get", &ds, &"215"]);
    assert!(!past.status.success());
    assert!(String::from_utf8_lossy(&past.stderr).contains("out of range"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn inspect_of_a_dataset_directory_gives_statistics() {
    let dir = scratch("stats");
    let ds = dir.join("ds");
    let want = convert_reference(&ds);
    let out = nucleate(&[&"data", &"inspect", &"--json", &ds]);
    assert_ok(&out);
    let stats = stdout_json(&out);
    assert!(stats.is_object(), "a dataset gives one object");
    let n_atoms: usize = want.iter().map(Structure::n_atoms).sum();
    assert_eq!(stats["n_structures"], want.len());
    assert_eq!(stats["n_atoms"], n_atoms);
    let carbon: usize = want
        .iter()
        .flat_map(|s| &s.numbers)
        .filter(|&&z| z == 6)
        .count();
    assert_eq!(stats["elements"]["C"], carbon);
    let sizes: Vec<usize> = want.iter().map(Structure::n_atoms).collect();
    assert_eq!(
        stats["size"]["min"],
        *sizes.iter().min().expect("non-empty")
    );
    assert_eq!(
        stats["size"]["max"],
        *sizes.iter().max().expect("non-empty")
    );
    let homo: Vec<f64> = want
        .iter()
        .filter_map(|s| match s.labels.get("homo").map(|l| &l.value) {
            Some(LabelValue::Float(v)) => Some(*v),
            _ => None,
        })
        .collect();
    let mean = homo.iter().sum::<f64>() / homo.len() as f64;
    let std = (homo.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / homo.len() as f64).sqrt();
    let h = &stats["labels"]["homo"];
    assert_eq!(h["count"], 200);
    assert_eq!(h["unit"], "eV");
    assert!((h["mean"].as_f64().expect("mean") - mean).abs() < 1e-9);
    assert!((h["std"].as_f64().expect("std") - std).abs() < 1e-9);
    assert_eq!(stats["labels"]["energy"]["unit"], "kcal/mol");
    assert_eq!(stats["labels"]["energy"]["count"], 5);

    let text = nucleate(&[&"data", &"inspect", &ds]);
    assert_ok(&text);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("215 structures"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn split_is_reproducible_and_partitions_the_dataset() {
    let dir = scratch("split");
    let ds = dir.join("ds");
    convert_reference(&ds);
    let run = |seed: &str, name: &str| {
        let path = dir.join(name);
        let out = nucleate(&[
            &"data", &"split", &ds, &"--sizes", &"150,40", &"--seed", &seed, &"-o", &path,
        ]);
        assert_ok(&out);
        std::fs::read(&path).expect("split written")
    };
    let a = run("7", "a.json");
    let b = run("7", "b.json");
    let c = run("8", "c.json");
    assert_eq!(a, b, "same seed, same file");
    assert_ne!(a, c, "another seed, another split");
    let doc: Value = serde_json::from_slice(&a).expect("JSON");
    let part = |k: &str| -> Vec<u64> {
        doc[k]
            .as_array()
            .expect("indices")
            .iter()
            .map(|v| v.as_u64().expect("index"))
            .collect()
    };
    let (train, val, test) = (part("train"), part("val"), part("test"));
    assert_eq!((train.len(), val.len(), test.len()), (150, 40, 25));
    let mut all: Vec<u64> = train.iter().chain(&val).chain(&test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..215).collect::<Vec<_>>(), "disjoint and complete");
    assert!(train.windows(2).all(|w| w[0] < w[1]), "sorted");
    assert_ne!(train, (0..150).collect::<Vec<_>>(), "shuffled");

    // The QM9 preset needs the full dataset.
    let small = nucleate(&[
        &"data",
        &"split",
        &ds,
        &"--preset",
        &"qm9",
        &"-o",
        &dir.join("q.json"),
    ]);
    assert!(!small.status.success());
    assert!(String::from_utf8_lossy(&small.stderr).contains("110,000"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn convert_reports_bad_rows_with_file_line_and_field() {
    let dir = scratch("badconvert");
    let text = std::fs::read_to_string(data("qm9_part1_first20.csv")).expect("slice");
    // Break one coordinate of the 7th molecule (line 8 of the file).
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[7] = lines[7].replacen("[[", "[[1.2.3,", 1);
    let bad = dir.join("qm9_bad.csv");
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let out = nucleate(&[&"data", &"convert", &bad, &"-o", &dir.join("ds")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("qm9_bad.csv") && err.contains("line 8") && err.contains("XYZ_Ang"),
        "{err}"
    );
    assert!(
        !dir.join("ds/manifest.json").exists(),
        "no manifest for a failed conversion"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn convert_walks_directories_and_refuses_to_overwrite() {
    let dir = scratch("walk");
    let input = dir.join("in");
    std::fs::create_dir_all(input.join("sub")).expect("mkdir");
    std::fs::copy(data("qm9_part1_first20.csv"), input.join("sub/qm9.csv")).expect("copy");
    std::fs::copy(
        sample("chemfiles_tests_data/xyz/methane.xyz"),
        input.join("methane.xyz"),
    )
    .expect("copy");
    std::fs::write(input.join("LICENSE.txt"), "not a structure").expect("write");
    std::fs::write(input.join("extra.csv"), "name,value\nx,1.0\n").expect("write");
    let ds = dir.join("ds");
    let out = nucleate(&[&"data", &"convert", &input, &"-o", &ds]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("skipping"),
        "CSV of unknown layout is noted"
    );
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(ds.join("manifest.json")).expect("manifest"))
            .expect("JSON");
    assert_eq!(m["n_structures"], 21);
    let again = nucleate(&[&"data", &"convert", &input, &"-o", &ds]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--overwrite"));
    assert_ok(&nucleate(&[
        &"data",
        &"convert",
        &input.join("methane.xyz"),
        &"-o",
        &ds,
        &"--overwrite",
        &"--compression",
        &"gzip",
    ]));
    let methane = nucleate(&[&"data", &"get", &ds, &"0", &"--json"]);
    assert_ok(&methane);
    assert_eq!(
        stdout_json(&methane)[0]["numbers"],
        serde_json::json!([6, 1, 1, 1, 1])
    );
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(ds.join("manifest.json")).expect("manifest"))
            .expect("JSON");
    assert_eq!(m["n_structures"], 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn glob_patterns_expand_in_name_order() {
    let dir = scratch("glob");
    for name in ["b.xyz", "a.xyz"] {
        std::fs::copy(
            sample("chemfiles_tests_data/xyz/methane.xyz"),
            dir.join(name),
        )
        .expect("copy");
    }
    std::fs::copy(data("qm9_part1_first20.csv"), dir.join("c.csv")).expect("copy");
    let pattern = dir.join("*.xyz");
    let out = nucleate(&[&"data", &"inspect", &"--json", &pattern]);
    assert_ok(&out);
    let reports = stdout_json(&out);
    let paths: Vec<&str> = reports
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths[0].ends_with("a.xyz") && paths[1].ends_with("b.xyz"),
        "{paths:?}"
    );

    let ds = dir.join("ds");
    assert_ok(&nucleate(&[
        &"data",
        &"convert",
        &dir.join("*.csv"),
        &pattern,
        &"-o",
        &ds,
    ]));
    // Extended XYZ by default: the first structure is the first QM9 molecule (methane).
    let out = nucleate(&[&"data", &"get", &ds, &"0"]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("5\n") && text.contains("dsgdb9nsd_000001.xyz"),
        "{text}"
    );
    let none = nucleate(&[&"data", &"inspect", &dir.join("*.nothing")]);
    assert!(!none.status.success());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn polarizability_table_is_joined_onto_qm9_molecules() {
    let dir = scratch("polarizability");
    let ds = dir.join("ds");
    let table = data("qm9_polarizability_first20.csv");
    // Alone it holds no structures: inspect says what it is.
    let alone = nucleate(&[&"data", &"inspect", &"--json", &table]);
    assert!(!alone.status.success());
    assert!(
        stdout_json(&alone)[0]["error"]
            .as_str()
            .expect("message")
            .contains("polarizability")
    );
    // Found in a directory, it is skipped with a note.
    let folder = dir.join("qm9");
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::copy(&table, folder.join("qm9_polarizability.csv")).expect("copy");
    std::fs::copy(data("qm9_part1_first20.csv"), folder.join("qm9_part1.csv")).expect("copy");
    let listed = nucleate(&[&"data", &"inspect", &"--json", &folder]);
    assert_ok(&listed);
    assert_eq!(stdout_json(&listed).as_array().map(Vec::len), Some(1));
    // The table may come after the molecules on the command line.
    let out = nucleate(&[
        &"data",
        &"convert",
        &data("qm9_part1_first20.csv"),
        &table,
        &"-o",
        &ds,
    ]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("onto 20 of 20"));
    let got = nucleate(&[&"data", &"get", &ds, &"--json"]);
    assert_ok(&got);
    let got = stdout_json(&got);
    let got = got.as_array().expect("array");
    assert_eq!(got.len(), 20);
    // dsgdb9nsd_000001.xyz, methane: isotropic, 13.211 bohr³ on the diagonal.
    let t = &got[0]["labels"]["alpha_tensor"];
    assert_eq!(t["unit"], "bohr^3");
    assert_eq!(f64s(&t["value"]), [13.211, 0.0, 13.211, 0.0, 0.0, 13.211]);
    // The trace / 3 is the isotropic polarizability of the main table (given to 0.01 bohr³).
    for g in got {
        let a = f64s(&g["labels"]["alpha_tensor"]["value"]);
        let alpha = g["labels"]["alpha"]["value"].as_f64().expect("alpha");
        assert!(
            ((a[0] + a[2] + a[5]) / 3.0 - alpha).abs() < 0.011,
            "{}: {a:?} vs {alpha}",
            g["comment"]
        );
    }
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(ds.join("manifest.json")).expect("manifest"))
            .expect("JSON");
    assert_eq!(m["sources"][0]["joined_label"], "alpha_tensor");
    assert_eq!(m["sources"][0]["n_structures"], 0);
    std::fs::remove_dir_all(&dir).ok();
}

/// A reader that closes the pipe early (`nucleate data inspect … | head`): the tool ends
/// quietly (SIGPIPE's default action, or success), without a panic message.
#[test]
fn closed_output_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let file = data("qm9_part1_first20.csv");
    // ~600 kB of JSON: far more than a pipe buffer, so writes go on after the reader left.
    let mut child = Command::new(env!("CARGO_BIN_EXE_nucleate"))
        .args(["data", "inspect", "--json"])
        .args(std::iter::repeat_n(&file, 2000))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nucleate runs");
    let mut head = [0u8; 64];
    let mut stdout = child.stdout.take().expect("stdout");
    stdout.read_exact(&mut head).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("nucleate ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    assert!(
        out.status.success() || out.status.signal() == Some(13),
        "{:?}: {stderr}",
        out.status
    );
}
