//! Backbone throughput: forward and forward+backward molecules/s of ET and CT on real QM9
//! molecules, on burn's CPU backend or its wgpu/CUDA backends (see scripts/bench-backbones.sh,
//! which runs TorchMD-Net's ET on the same molecules beside it and prints the ratios). GPU
//! timings wait for the device (`Device::sync`) before the clock stops; the first batch of each
//! configuration is a warm-up (kernel compilation, autotuning) and is not counted.
//!
//! Usage: cargo run --release -p nucleate --example backbone_bench -- MOLECULES.extxyz
//!        [--device cpu|wgpu|cuda|flex] [--batches 32,128] [--repeats 3]
//!        [--sizes 256/8/8,128/6/8] [--json OUT.json]
//! `NUCLEATE_GRAPH_KERNELS=off` sends scatters and gathers through burn's `select_assign`/`select`
//! instead of nucleate's kernels on the GPU backends (as the CLI does).
//! `BENCH_FWD_ONLY=1` times the forward pass alone (for profiling it).

use std::time::Instant;

// The `nucleate` binary's allocator and its settings, so that the bench measures what users run.
#[path = "../src/alloc.rs"]
mod alloc;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use nucleate_core::Structure;
use nucleate_core::backbone::{AtomGraph, CtConfig, EtConfig};
use nucleate_core::head::{EquivariantScalarHead, Readout};

#[derive(Clone, Copy)]
enum Kind {
    Et,
    Ct,
}

fn parse_list(s: &str) -> Vec<usize> {
    s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
}

fn batch_of(molecules: &[Structure], start: usize, size: usize) -> Vec<Structure> {
    (0..size)
        .map(|k| molecules[(start + k) % molecules.len()].clone())
        .collect()
}

/// burn's device for `--device`.
fn device(name: &str) -> Result<Device, String> {
    match std::env::var("NUCLEATE_GRAPH_KERNELS").as_deref() {
        Ok("off") => nucleate_core::nn::set_graph_kernels(false),
        Ok("on") | Err(_) => {}
        Ok(other) => {
            return Err(format!(
                "NUCLEATE_GRAPH_KERNELS={other}: expected on or off"
            ));
        }
    }
    match name {
        #[allow(deprecated)] // burn 0.22 prefers flex; ndarray is the CPU backend we use.
        "cpu" => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0usize)),
        #[cfg(feature = "flex")]
        "flex" => Ok(Device::flex()),
        other => Err(format!(
            "--device {other}: not built in (cpu, or wgpu/cuda/flex with their features)"
        )),
    }
}

/// Seconds per batch (best of `repeats`) for forward, and for forward+backward.
fn time_model(
    kind: Kind,
    et: &EtConfig,
    molecules: &[Structure],
    batch: usize,
    repeats: usize,
    base: &Device,
) -> (f64, f64, usize) {
    let plain = base.clone();
    let grad = base.clone().autodiff();
    let options = et.graph_options();
    let batches: Vec<Vec<Structure>> = (0..repeats)
        .map(|r| batch_of(molecules, r * batch, batch))
        .collect();
    let mut edges = 0;
    let mut run = |device: &Device, backward: bool| -> f64 {
        let et_model = et.clone().init(device).expect("valid config");
        let ct_model = CtConfig::new()
            .with_et(et.clone())
            .init(device)
            .expect("valid config");
        let head = EquivariantScalarHead::new(et.hidden_channels, device);
        let readout = Readout::new();
        let mut best = f64::INFINITY;
        for (r, b) in batches.iter().enumerate() {
            let g = AtomGraph::from_structures(b, &options, device).expect("graph");
            edges = g.idx_i.n_in();
            let t0 = Instant::now();
            let out = match kind {
                Kind::Et => et_model.forward(&g),
                Kind::Ct => ct_model.forward(&g, None),
            }
            .expect("forward");
            let y = head.forward(out.x, out.vec);
            let e: Tensor<2> = readout.forward(y, &g.batch);
            let loss = e.sum();
            if backward {
                let grads = loss.backward();
                drop(grads);
                device.sync().expect("device sync");
            } else {
                let _ = loss.into_scalar::<f32>();
            }
            let dt = t0.elapsed().as_secs_f64();
            if r > 0 || repeats == 1 {
                best = best.min(dt);
            }
        }
        let _ = (et_model.num_params(), ct_model.num_params());
        best
    };
    let fwd = run(&plain, false);
    let fwd_bwd = if std::env::var_os("BENCH_FWD_ONLY").is_some() {
        f64::NAN
    } else {
        run(&grad, true)
    };
    (fwd, fwd_bwd, edges)
}

fn main() {
    alloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: backbone_bench MOLECULES.extxyz [--batches 32,128] [--repeats 3]");
        std::process::exit(2);
    };
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let batches = flag("--batches").map_or(vec![32, 128], |s| parse_list(&s));
    let repeats: usize = flag("--repeats").and_then(|s| s.parse().ok()).unwrap_or(3);
    let device_name = flag("--device").unwrap_or_else(|| "cpu".into());
    let base = match device(&device_name) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    let molecules = match nucleate_core::io::xyz::read_xyz(&text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "nucleate backbone bench: {} QM9 molecules, burn {} backend ({base:?}), f32, best of {repeats} batches after 1 warm-up",
        molecules.len(),
        device_name
    );
    println!(
        "{:<4} {:>12} {:>6} {:>7} {:>14} {:>18}",
        "model", "F/L/H", "batch", "edges", "fwd mol/s", "fwd+bwd mol/s"
    );
    let mut json = Vec::new();
    // `--sizes 128/6/8` restricts the run to some sizes (e.g. under a profiler) or picks others.
    let sizes: Vec<Vec<usize>> = flag("--sizes")
        .unwrap_or_else(|| "256/8/8,128/6/8".into())
        .split(',')
        .map(|s| s.split('/').filter_map(|x| x.parse().ok()).collect())
        .collect();
    for size in &sizes {
        let &[f, l, h] = size.as_slice() else {
            eprintln!("--sizes: expected F/L/H[,F/L/H...], e.g. 256/8/8");
            std::process::exit(2);
        };
        let et = EtConfig::new()
            .with_hidden_channels(f)
            .with_num_layers(l)
            .with_num_heads(h)
            .with_num_rbf(if f >= 256 { 64 } else { 32 });
        for (kind, name) in [(Kind::Et, "ET"), (Kind::Ct, "CT")] {
            for &b in &batches {
                let (fwd, fb, edges) = time_model(kind, &et, &molecules, b, repeats + 1, &base);
                let (a, c) = (b as f64 / fwd, b as f64 / fb);
                println!(
                    "{name:<4} {:>12} {b:>6} {edges:>7} {a:>14.1} {c:>18.1}",
                    format!("{f}/{l}/{h}")
                );
                json.push(format!(
                    "{{\"device\":\"{device_name}\",\"model\":\"{name}\",\"F\":{f},\"L\":{l},\"H\":{h},\"batch\":{b},\"fwd_mol_s\":{a:.3},\"fwd_bwd_mol_s\":{c:.3}}}"
                ));
            }
        }
    }
    if let Some(out) = flag("--json")
        && let Err(e) = std::fs::write(&out, format!("[{}]\n", json.join(",\n")))
    {
        eprintln!("cannot write {out}: {e}");
    }
}
