//! Radius-graph construction throughput on random periodic boxes and molecule-like droplets.
//!
//! ```text
//! cargo run --release -p nucleate-core --example radius_graph_bench -- [--out DIR] [--max-atoms N]
//! ```
//!
//! Systems: uniformly random atoms at 0.1 atoms/Å³ (liquid water's atom density), cutoff 5 Å,
//! as periodic cubic boxes ("box") and as non-periodic spheres ("drop"). Prints the best and
//! median wall time of repeated builds, atoms/s and edges/s. With `--out DIR` it also writes,
//! for `scripts/bench-radius-graph.sh` and `radius_graph_bench.py`:
//! - `DIR/<name>.pos`: positions, `n_atoms × 3` little-endian f64 (Å);
//! - `DIR/<name>.edges`: for systems up to 10⁴ atoms, our edges as `n_edges × 5` little-endian
//!   i32 rows `(i, j, s_a, s_b, s_c)`, so the Python side can compare edge sets exactly;
//! - `DIR/manifest.tsv`: one row per system (name, n_atoms, box length or 0, periodic, cutoff,
//!   n_edges, best seconds, median seconds).

use nucleate_core::Structure;
use nucleate_core::graph::{RadiusGraphOptions, radius_graph};
use std::io::Write;
use std::time::{Duration, Instant};

const DENSITY: f64 = 0.1; // atoms / Å³
const CUTOFF: f64 = 5.0; // Å

/// SplitMix64, the same generator as the tests.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A periodic cube of `n` random atoms at [`DENSITY`]; returns it and its edge length.
fn periodic_box(n: usize, seed: u64) -> (Structure, f64) {
    let length = (n as f64 / DENSITY).cbrt();
    let mut rng = Rng(seed);
    let positions = (0..n)
        .map(|_| [0; 3].map(|_| rng.uniform() * length))
        .collect();
    let mut s = Structure::molecule(vec![8; n], positions);
    s.lattice = Some([[length, 0.0, 0.0], [0.0, length, 0.0], [0.0, 0.0, length]]);
    s.pbc = [true; 3];
    (s, length)
}

/// A non-periodic sphere of `n` random atoms at [`DENSITY`] (rejection sampling).
fn droplet(n: usize, seed: u64) -> Structure {
    let radius = (3.0 * n as f64 / (4.0 * std::f64::consts::PI * DENSITY)).cbrt();
    let mut rng = Rng(seed);
    let mut positions = Vec::with_capacity(n);
    while positions.len() < n {
        let p = [0; 3].map(|_| (2.0 * rng.uniform() - 1.0) * radius);
        if p.iter().map(|x| x * x).sum::<f64>() <= radius * radius {
            positions.push(p);
        }
    }
    Structure::molecule(vec![8; n], positions)
}

/// Times repeated builds (at least 3, or as many as fit in ~1 s, at most 100); returns the
/// graph's edge count, the best and the median time.
fn time_builds(s: &Structure, options: &RadiusGraphOptions) -> (usize, Duration, Duration) {
    let mut times = Vec::new();
    let mut n_edges = 0;
    let started = Instant::now();
    while times.len() < 3 || (started.elapsed() < Duration::from_secs(1) && times.len() < 100) {
        let t = Instant::now();
        let g = radius_graph(s, options).expect("benchmark structures are valid");
        times.push(t.elapsed());
        n_edges = g.n_edges();
        if s.n_atoms() >= 1_000_000 {
            break; // one build of a million atoms is enough
        }
    }
    times.sort();
    (n_edges, times[0], times[times.len() / 2])
}

fn write_f64s(path: &std::path::Path, values: impl Iterator<Item = f64>) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for v in values {
        w.write_all(&v.to_le_bytes())?;
    }
    w.flush()
}

fn write_edges(
    path: &std::path::Path,
    s: &Structure,
    options: &RadiusGraphOptions,
) -> std::io::Result<()> {
    let g = radius_graph(s, options).expect("benchmark structures are valid");
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for e in 0..g.n_edges() {
        let row = [
            g.idx_i[e] as i32,
            g.idx_j[e] as i32,
            g.shift_ij[e][0],
            g.shift_ij[e][1],
            g.shift_ij[e][2],
        ];
        for v in row {
            w.write_all(&v.to_le_bytes())?;
        }
    }
    w.flush()
}

fn main() -> std::io::Result<()> {
    let mut out_dir: Option<std::path::PathBuf> = None;
    let mut max_atoms = 1_000_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out_dir = args.next().map(Into::into),
            "--max-atoms" => {
                max_atoms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--max-atoms takes a number of atoms");
            }
            other => panic!("unknown argument {other}; expected --out DIR or --max-atoms N"),
        }
    }
    if let Some(dir) = &out_dir {
        std::fs::create_dir_all(dir)?;
    }
    let options = RadiusGraphOptions::with_cutoff(CUTOFF);
    let mut manifest =
        String::from("name\tn_atoms\tbox_A\tperiodic\tcutoff_A\tn_edges\tbest_s\tmedian_s\n");
    println!("nucleate radius_graph, cutoff {CUTOFF} Å, density {DENSITY} atoms/Å³, single thread");
    println!(
        "{:<12} {:>9} {:>11} {:>7} {:>11} {:>11} {:>12} {:>12}",
        "system", "n_atoms", "n_edges", "edges/atom", "best_ms", "median_ms", "atoms/s", "edges/s"
    );
    let mut systems = Vec::new();
    for (k, n) in [1_000usize, 10_000, 100_000, 1_000_000]
        .into_iter()
        .enumerate()
    {
        if n <= max_atoms {
            let (s, length) = periodic_box(n, 1 + k as u64);
            systems.push((format!("box_{n}"), s, length));
        }
    }
    for (k, n) in [1_000usize, 10_000, 100_000].into_iter().enumerate() {
        if n <= max_atoms {
            systems.push((format!("drop_{n}"), droplet(n, 11 + k as u64), 0.0));
        }
    }
    for (name, s, length) in &systems {
        let (n_edges, best, median) = time_builds(s, &options);
        let n = s.n_atoms();
        println!(
            "{:<12} {:>9} {:>11} {:>7.1} {:>11.3} {:>11.3} {:>12.3e} {:>12.3e}",
            name,
            n,
            n_edges,
            n_edges as f64 / n as f64,
            best.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3,
            n as f64 / best.as_secs_f64(),
            n_edges as f64 / best.as_secs_f64(),
        );
        if let Some(dir) = &out_dir {
            let periodic = u8::from(s.pbc[0]);
            manifest.push_str(&format!(
                "{name}\t{n}\t{length:.17e}\t{periodic}\t{CUTOFF}\t{n_edges}\t{:.6e}\t{:.6e}\n",
                best.as_secs_f64(),
                median.as_secs_f64()
            ));
            write_f64s(
                &dir.join(format!("{name}.pos")),
                s.positions.iter().flatten().copied(),
            )?;
            if n <= 10_000 {
                write_edges(&dir.join(format!("{name}.edges")), s, &options)?;
            }
        }
    }
    if let Some(dir) = &out_dir {
        std::fs::write(dir.join("manifest.tsv"), manifest)?;
    }
    Ok(())
}
