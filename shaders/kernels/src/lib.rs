//! nucleate's own GPU compute kernels, written once in CubeCL: they compile to WGSL for wgpu
//! (Vulkan, Metal, DX12 natively, WebGPU in the browser) and to CUDA. `nucleate-core` registers
//! them with burn through its backend-extension mechanism (`core/src/nn/segment.rs`, with their
//! backward passes); this crate holds only the kernels and their launches. The WGSL they become
//! is written out for review by `tests/wgsl.rs` to `shaders/wgsl/kernels/`.
//!
//! Why our own: burn 0.22's scatter-add (`select_assign` with `Add`) on its GPU backends starts
//! one unit per feature column, each walking every edge in turn, and the backward of every
//! `select` (gather) is that same kernel. WGSL has no atomic float add, so the parallel form is
//! a segmented reduction over a CSR layout: the rows of each segment listed contiguously
//! (`perm`, rows sorted by segment) and `offsets[s]..offsets[s + 1]` the range of segment `s`.
//! One unit computes one (segment, column) sum, so every output element is written once, with
//! no atomics, in a fixed order: the result is deterministic on every runtime.

use burn_backend::cubecl::dtype_to_storage_type;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;
use cubecl::{CubeDim, calculate_cube_count_elemwise};

/// `out[s, c] = Σ_{k ∈ offsets[s]..offsets[s+1]} values[perm[k], c]`.
///
/// One unit per output element (`ABSOLUTE_POS = s · width + c`): consecutive units read
/// consecutive columns of the same input row, so the loads of a warp coalesce.
#[cube(launch)]
pub fn segment_sum_kernel<F: Float, I: Numeric>(
    values: &[F],
    perm: &[I],
    offsets: &[I],
    output: &mut [F],
    width: u32,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    if ABSOLUTE_POS >= output.len() {
        terminate!();
    }
    let w = width as usize;
    let segment = ABSOLUTE_POS / w;
    let column = ABSOLUTE_POS % w;
    let start = u32::cast_from(offsets[segment]) as usize;
    let end = u32::cast_from(offsets[segment + 1]) as usize;
    let mut acc = F::new(0.0);
    let mut k = start;
    while k < end {
        let row = u32::cast_from(perm[k]) as usize;
        acc += values[row * w + column];
        k += 1;
    }
    output[ABSOLUTE_POS] = acc;
}

/// The segment sum of the rows of `values` (`[n_in, width]`): `out[s] = Σ values[perm[k]]` over
/// `k ∈ offsets[s]..offsets[s+1]`; output `[offsets.len() − 1, width]`, in the dtype of `values`.
///
/// `perm` (`[n_in]`, entries in `0..n_in`) and `offsets` (`[n_out + 1]`, non-decreasing, from 0
/// to at most `n_in`) are integer tensors on the same device, as
/// `nucleate_core::nn::Segments` builds them.
///
/// # Panics
/// If `values` is not 2-D or `offsets` is empty.
#[must_use]
pub fn segment_sum(values: CubeTensor, perm: CubeTensor, offsets: CubeTensor) -> CubeTensor {
    let values = into_contiguous(values);
    let perm = into_contiguous(perm);
    let offsets = into_contiguous(offsets);
    let shape = values.meta.shape();
    assert_eq!(
        shape.num_dims(),
        2,
        "segment_sum: values must be [rows, width]"
    );
    let width = shape[1];
    let n_out = offsets.meta.shape()[0]
        .checked_sub(1)
        .expect("segment_sum: offsets has n_out + 1 entries");
    let output = empty_device_dtype(
        values.client.clone(),
        values.device.clone(),
        [n_out, width].into(),
        values.dtype,
    );
    let units = n_out * width;
    if units == 0 {
        return output;
    }
    let client = values.client.clone();
    let cube_dim = CubeDim::new(&client, units);
    let cube_count = calculate_cube_count_elemwise(&client, units, cube_dim);
    let dtypes = [
        dtype_to_storage_type(values.dtype),
        dtype_to_storage_type(perm.dtype),
    ];
    segment_sum_kernel::launch(
        &client,
        cube_count,
        cube_dim,
        values.into_buffer_arg(),
        perm.into_buffer_arg(),
        offsets.into_buffer_arg(),
        output.clone().into_buffer_arg(),
        u32::try_from(width).expect("segment_sum: width fits in u32"),
        dtypes,
    );
    output
}
