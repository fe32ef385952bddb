//! nucleate's graph kernels (`shaders/kernels`, registered in `core/src/nn/segment.rs`) on
//! burn's wgpu backend against an f64 reference computed on the host
//! (`nucleate_core::testing::kernels`: the segment sum, the segment mean and the gather, forward
//! and backward, on random graphs from 1 to 10⁵ edges with empty buckets, repeated edges,
//! sorted and unsorted indices, widths from 1 to 64; ≤ 1e-5 relative).
//!
//! On a machine without a GPU wgpu runs on Mesa's lavapipe (software Vulkan). The same kernels
//! run in the browser on WebGPU (`www/tests/browser.mjs`, "graph kernels").
#![cfg(feature = "wgpu")]

use burn::tensor::{Device, Tensor};
use nucleate_core::nn::{Segments, gather_rows, scatter_sum};
use nucleate_core::testing::kernels::{check_graph_kernels, kernel_cases};

fn wgpu() -> Device {
    Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)
}

#[test]
fn graph_kernels_agree_with_the_host_reference_on_wgpu() {
    let report = pollster::block_on(check_graph_kernels(&wgpu(), &kernel_cases(100_000)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((report.graphs, report.largest), (9, 100_000));
    println!(
        "graph kernels on wgpu: {} graphs (1 to {} edges), worst relative error {:.2e}",
        report.graphs, report.largest, report.worst
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
