//! The check of nucleate's graph kernels ([`crate::nn::segment`]) on a device, shared by the
//! native test (`native/tests/graph_kernels.rs`, wgpu) and the page (`web/src/train.rs`,
//! WebGPU in headless Chromium): the segment sum, the segment mean and the gather, forward and
//! backward, against an f64 reference computed here on the host, on random graphs from 1 to
//! 10⁵ edges with empty buckets (isolated atoms), repeated edges, sorted and unsorted indices
//! and widths from 1 to 64 columns.
//!
//! It is async because a browser cannot block on a GPU read; natively `pollster` drives it.

use burn::tensor::{Device, Tensor, TensorData};

use crate::nn::{Segments, gather_rows, scatter_mean, scatter_sum, uses_kernels};
use crate::rng::SplitMix64;
use crate::testing::relative_error;

/// Relative agreement the check demands (of the largest reference value). Seen on lavapipe and
/// SwiftShader: ≤ 2e-7 (f32 sums of at most a few hundred terms against f64); a wrong index or
/// a missed row shows at 1e-2 and above.
pub const KERNEL_AGREE: f64 = 1e-5;

/// One random graph: `n_in` rows into `n_out` buckets, of which only `used` receive rows (the
/// others stay empty), optionally sorted by bucket like a radius graph's receiving atoms.
#[derive(Debug, Clone, Copy)]
pub struct KernelCase {
    /// Rows (edges).
    pub n_in: usize,
    /// Buckets (atoms).
    pub n_out: usize,
    /// Buckets that receive rows.
    pub used: usize,
    /// Columns.
    pub width: usize,
    /// Rows sorted by bucket.
    pub sorted: bool,
}

/// The graphs of the check, from 1 to 10⁵ edges; `largest` caps the edges (the page runs up
/// to 10⁵ as well; a smaller cap is for slow software devices).
#[must_use]
pub fn kernel_cases(largest: usize) -> Vec<KernelCase> {
    [
        (1, 1, 1, 1, true),
        (1, 4, 1, 3, false),
        (7, 5, 2, 3, false),
        (64, 40, 40, 1, true),
        (1_000, 300, 120, 64, false),
        (1_000, 300, 300, 8, true),
        (20_000, 1_200, 1_000, 16, true),
        (100_000, 5_000, 4_000, 16, true),
        (100_000, 20_000, 15_000, 3, false),
    ]
    .into_iter()
    .filter(|c| c.0 <= largest)
    .map(|(n_in, n_out, used, width, sorted)| KernelCase {
        n_in,
        n_out,
        used,
        width,
        sorted,
    })
    .collect()
}

/// What [`check_graph_kernels`] measured.
#[derive(Debug, Clone)]
pub struct KernelReport {
    /// Graphs checked.
    pub graphs: usize,
    /// The most edges of a graph.
    pub largest: usize,
    /// The worst relative error over every operation, forward and backward.
    pub worst: f64,
}

fn index(case: &KernelCase, rng: &mut SplitMix64) -> Vec<i64> {
    // Buckets that receive rows: every `n_out / used`-th, so empty buckets sit between them.
    let step = (case.n_out / case.used.max(1)).max(1);
    let mut index: Vec<i64> = (0..case.n_in)
        .map(|_| (rng.range(0, case.used - 1) * step).min(case.n_out - 1) as i64)
        .collect();
    if case.sorted {
        index.sort_unstable();
    }
    index
}

fn values(n: usize, rng: &mut SplitMix64) -> Vec<f64> {
    (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect()
}

fn tensor(v: &[f64], rows: usize, width: usize, device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rows, width]), device)
}

async fn host(t: Tensor<2>) -> Result<Vec<f64>, String> {
    let data = t
        .into_data_async()
        .await
        .map_err(|e| format!("reading a result back: {e:?}"))?;
    Ok(data.iter::<f64>().collect())
}

/// `out[s] = Σ_{e: index[e] = s} v[e]`, and with `mean` divided by the count (empty: 0).
fn reference_sum(v: &[f64], index: &[i64], n_out: usize, width: usize, mean: bool) -> Vec<f64> {
    let mut out = vec![0.0; n_out * width];
    let mut count = vec![0usize; n_out];
    for (e, &s) in index.iter().enumerate() {
        let s = s as usize;
        count[s] += 1;
        for c in 0..width {
            out[s * width + c] += v[e * width + c];
        }
    }
    if mean {
        for (s, &k) in count.iter().enumerate() {
            for c in 0..width {
                out[s * width + c] /= k.max(1) as f64;
            }
        }
    }
    out
}

/// `out[e] = v[index[e]]`, and with `scale` each row multiplied by `scale[index[e]]`.
fn reference_gather(v: &[f64], index: &[i64], width: usize, scale: Option<&[f64]>) -> Vec<f64> {
    let mut out = Vec::with_capacity(index.len() * width);
    for &s in index {
        let s = s as usize;
        let k = scale.map_or(1.0, |f| f[s]);
        out.extend(v[s * width..(s + 1) * width].iter().map(|x| x * k));
    }
    out
}

fn compare(what: &str, case: &KernelCase, got: &[f64], want: &[f64]) -> Result<f64, String> {
    let err = relative_error(got, want);
    if err <= KERNEL_AGREE {
        Ok(err)
    } else {
        Err(format!(
            "{what} ({} rows → {} buckets, width {}, sorted {}): relative error {err:e} > \
             {KERNEL_AGREE:e}",
            case.n_in, case.n_out, case.width, case.sorted
        ))
    }
}

/// Runs every case of `cases` on `device` (which must run nucleate's kernels) and its autodiff
/// twin: forward sum, mean and gather, and the gradients of `Σ op(x) ⊙ w` for a random `w`.
///
/// # Errors
/// The first operation that disagrees with the reference by more than [`KERNEL_AGREE`], or a
/// device that does not run the kernels.
pub async fn check_graph_kernels(
    device: &Device,
    cases: &[KernelCase],
) -> Result<KernelReport, String> {
    let ad = device.clone().autodiff();
    if !(uses_kernels(device) && uses_kernels(&ad)) {
        return Err(format!("{device:?} does not run nucleate's graph kernels"));
    }
    let mut rng = SplitMix64::new(20_261_207);
    let mut worst = 0.0f64;
    for case in cases {
        let (n_in, n_out, w) = (case.n_in, case.n_out, case.width);
        let index = index(case, &mut rng);
        let counts = reference_sum(&vec![1.0; n_in], &index, n_out, 1, false);
        let inv_count: Vec<f64> = counts.iter().map(|&k| 1.0 / k.max(1.0)).collect();
        let rows = values(n_in * w, &mut rng); // [n_in, w]
        let buckets = values(n_out * w, &mut rng); // [n_out, w]
        let sum = reference_sum(&rows, &index, n_out, w, false);
        let gathered = reference_gather(&buckets, &index, w, None);

        // Forward, without autodiff.
        let seg = Segments::new(&index, n_out, device);
        let got = host(scatter_sum(tensor(&rows, n_in, w, device), &seg)).await?;
        worst = worst.max(compare("sum", case, &got, &sum)?);
        let got = host(scatter_mean(tensor(&rows, n_in, w, device), &seg)).await?;
        let mean = reference_sum(&rows, &index, n_out, w, true);
        worst = worst.max(compare("mean", case, &got, &mean)?);
        let got = host(gather_rows(tensor(&buckets, n_out, w, device), &seg)).await?;
        worst = worst.max(compare("gather", case, &got, &gathered)?);

        // Backward: d/dx Σ (op(x) ⊙ weight).
        let seg = Segments::new(&index, n_out, &ad);
        let weight = tensor(&buckets, n_out, w, &ad);
        let x = tensor(&rows, n_in, w, &ad).require_grad();
        let grads = scatter_sum(x.clone(), &seg)
            .mul(weight.clone())
            .sum()
            .backward();
        let grad = x.grad(&grads).ok_or("no gradient of the sum")?;
        worst = worst.max(compare(
            "sum backward",
            case,
            &host(grad).await?,
            &gathered,
        )?);
        let x = tensor(&rows, n_in, w, &ad).require_grad();
        let grads = scatter_mean(x.clone(), &seg).mul(weight).sum().backward();
        let grad = x.grad(&grads).ok_or("no gradient of the mean")?;
        let want = reference_gather(&buckets, &index, w, Some(&inv_count));
        worst = worst.max(compare("mean backward", case, &host(grad).await?, &want)?);
        let y = tensor(&buckets, n_out, w, &ad).require_grad();
        let grads = gather_rows(y.clone(), &seg)
            .mul(tensor(&rows, n_in, w, &ad))
            .sum()
            .backward();
        let grad = y.grad(&grads).ok_or("no gradient of the gather")?;
        worst = worst.max(compare("gather backward", case, &host(grad).await?, &sum)?);
    }
    Ok(KernelReport {
        graphs: cases.len(),
        largest: cases.iter().map(|c| c.n_in).max().unwrap_or(0),
        worst,
    })
}
