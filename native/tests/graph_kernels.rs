//! nucleate's graph kernels (`shaders/kernels`, registered in `core/src/nn/segment.rs`) on
//! burn's wgpu backend against an f64 reference computed here on the host: the segment sum,
//! the segment mean and the gather, forward and backward, on random graphs from 1 to 10⁵ edges
//! with empty buckets (isolated atoms), repeated edges, sorted and unsorted indices, and widths
//! from 1 to 64 columns. Agreement asserted: ≤ 1e-5 relative to the largest reference value.
//!
//! On a machine without a GPU wgpu runs on Mesa's lavapipe (software Vulkan). The same kernels
//! run in the browser on WebGPU (`www/tests/browser.mjs`, "graph kernels").
#![cfg(feature = "wgpu")]

use burn::tensor::{Device, Tensor, TensorData};
use nucleate_core::nn::{Segments, gather_rows, scatter_mean, scatter_sum, uses_kernels};
use nucleate_core::rng::SplitMix64;
use nucleate_core::testing::relative_error;

/// Relative agreement asserted. Seen on lavapipe: ≤ 2e-7 (f32 summation of at most a few
/// hundred terms per bucket against an f64 sum); a wrong index or a missed row shows at 1e-2
/// and above.
const AGREE: f64 = 1e-5;

fn wgpu() -> Device {
    Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)
}

/// One random graph: `n_in` rows into `n_out` buckets, of which only `used` receive rows (the
/// others stay empty), optionally sorted by bucket like a radius graph's receiving atoms.
struct Case {
    n_in: usize,
    n_out: usize,
    used: usize,
    width: usize,
    sorted: bool,
}

fn index(case: &Case, rng: &mut SplitMix64) -> Vec<i64> {
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

fn host(t: Tensor<2>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .expect("float data")
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

fn check(what: &str, case: &Case, got: &[f64], want: &[f64]) -> f64 {
    let err = relative_error(got, want);
    assert!(
        err <= AGREE,
        "{what} ({} rows → {} buckets, width {}, sorted {}): relative error {err:e} > {AGREE:e}",
        case.n_in,
        case.n_out,
        case.width,
        case.sorted
    );
    err
}

#[test]
fn graph_kernels_agree_with_the_host_reference_on_wgpu() {
    let device = wgpu();
    assert!(
        uses_kernels(&device) && uses_kernels(&device.clone().autodiff()),
        "the wgpu device must run nucleate's kernels"
    );
    let ad = device.clone().autodiff();
    let mut rng = SplitMix64::new(20_261_207);
    let cases = [
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
    .map(|(n_in, n_out, used, width, sorted)| Case {
        n_in,
        n_out,
        used,
        width,
        sorted,
    });
    let mut worst = 0.0f64;
    for case in &cases {
        let (n_in, n_out, w) = (case.n_in, case.n_out, case.width);
        let index = index(case, &mut rng);
        let counts = reference_sum(&vec![1.0; n_in], &index, n_out, 1, false);
        let inv_count: Vec<f64> = counts.iter().map(|&k| 1.0 / k.max(1.0)).collect();
        let rows = values(n_in * w, &mut rng); // [n_in, w]
        let buckets = values(n_out * w, &mut rng); // [n_out, w]

        // Forward, without autodiff.
        let seg = Segments::new(&index, n_out, &device);
        let sum = host(scatter_sum(tensor(&rows, n_in, w, &device), &seg));
        worst = worst.max(check(
            "sum",
            case,
            &sum,
            &reference_sum(&rows, &index, n_out, w, false),
        ));
        let mean = host(scatter_mean(tensor(&rows, n_in, w, &device), &seg));
        worst = worst.max(check(
            "mean",
            case,
            &mean,
            &reference_sum(&rows, &index, n_out, w, true),
        ));
        let gathered = host(gather_rows(tensor(&buckets, n_out, w, &device), &seg));
        worst = worst.max(check(
            "gather",
            case,
            &gathered,
            &reference_gather(&buckets, &index, w, None),
        ));

        // Backward: d/dx Σ (op(x) ⊙ weight) for a random weight.
        let seg = Segments::new(&index, n_out, &ad);
        let x = tensor(&rows, n_in, w, &ad).require_grad();
        let weight = tensor(&buckets, n_out, w, &ad);
        let grads = scatter_sum(x.clone(), &seg).mul(weight.clone()).sum().backward();
        let grad = host(x.grad(&grads).expect("gradient of the sum"));
        worst = worst.max(check(
            "sum backward",
            case,
            &grad,
            &reference_gather(&buckets, &index, w, None),
        ));
        let x = tensor(&rows, n_in, w, &ad).require_grad();
        let grads = scatter_mean(x.clone(), &seg).mul(weight).sum().backward();
        let grad = host(x.grad(&grads).expect("gradient of the mean"));
        worst = worst.max(check(
            "mean backward",
            case,
            &grad,
            &reference_gather(&buckets, &index, w, Some(&inv_count)),
        ));
        let y = tensor(&buckets, n_out, w, &ad).require_grad();
        let weight = tensor(&rows, n_in, w, &ad);
        let grads = gather_rows(y.clone(), &seg).mul(weight).sum().backward();
        let grad = host(y.grad(&grads).expect("gradient of the gather"));
        worst = worst.max(check(
            "gather backward",
            case,
            &grad,
            &reference_sum(&rows, &index, n_out, w, false),
        ));
    }
    println!(
        "graph kernels on wgpu: {} graphs (1 to 100000 edges), worst relative error {worst:.2e}",
        cases.len()
    );
}

/// 3-D and 1-D operands go through the same kernels on their 2-D view.
#[test]
fn graph_kernels_take_any_rank_on_wgpu() {
    let device = wgpu();
    let seg = Segments::new(&[1, 0, 1], 2, &device);
    let values = Tensor::<1>::from_floats(
        [
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
        ],
        &device,
    )
    .reshape([3, 2, 2]);
    let sum = scatter_sum(values.clone(), &seg);
    assert_eq!(sum.dims(), [2, 2, 2]);
    let sum: Vec<f32> = sum.into_data().try_into_vec().expect("f32");
    assert_eq!(sum, vec![5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 14.0, 16.0]);
    let counts: Vec<f32> = scatter_sum(Tensor::<1>::ones([3], &device), &seg)
        .into_data()
        .try_into_vec()
        .expect("f32");
    assert_eq!(counts, vec![1.0, 2.0]);
    let picked = gather_rows(sum_rows(&device), &seg);
    let picked: Vec<f32> = picked.into_data().try_into_vec().expect("f32");
    assert_eq!(picked, vec![3.0, 4.0, 1.0, 2.0, 3.0, 4.0]);
}

fn sum_rows(device: &Device) -> Tensor<2> {
    Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], device)
}
