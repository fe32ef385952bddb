//! Segments: an index that assigns each row of a tensor (an edge, an atom) to a bucket (an atom,
//! a system), with the layout the GPU kernels need, and the burn extension that runs those
//! kernels.
//!
//! How it works: [`Segments`] keeps the index as a tensor (`index[e]` = bucket of row `e`). On
//! a device of burn's cubecl backend (wgpu, WebGPU, CUDA) it also keeps the same assignment in
//! CSR form, built on the host when the graph is: `perm` lists the rows bucket by bucket
//! (stable, so rows already sorted by bucket give the identity) and `offsets[s]..offsets[s+1]`
//! is bucket `s`'s range of `perm`. [`super::scatter_sum`] and [`super::gather_rows`] then go
//! through [`SegmentOps`], a burn backend extension: on the cubecl backend the sum is
//! `nucleate_kernels::segment_sum` (one unit per output element, no atomics, deterministic) and
//! the gather is burn's parallel `select`, and their backward passes are each other — the
//! gradient of a segment sum is a gather by `index`, the gradient of a gather a segment sum
//! over the CSR. burn's own backward of `select` and its `select_assign` would walk every row
//! serially for each column. On the CPU backends (flex, ndarray) the CSR is not built and the
//! reductions stay `select`/`select_assign`, which measure faster there (row-wise loops).

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::train::transfer::upload;

/// An assignment of `n_in` rows to `n_out` buckets, ready for the scatter and gather of
/// [`super::scatter`].
///
/// # Shapes
/// - `index`: `[n_in]`, entries in `0..n_out`
#[derive(Debug, Clone)]
pub struct Segments {
    index: Tensor<1, Int>,
    csr: Option<Csr>,
    n_out: usize,
}

/// The CSR form of a [`Segments`] (only on devices that run nucleate's kernels).
#[derive(Debug, Clone)]
pub(crate) struct Csr {
    /// `[n_in]`: row numbers, bucket by bucket.
    pub(crate) perm: Tensor<1, Int>,
    /// `[n_out + 1]`: bucket `s` is `perm[offsets[s]..offsets[s + 1]]`.
    pub(crate) offsets: Tensor<1, Int>,
}

impl Segments {
    /// The assignment `index` (each entry in `0..n_out`) as tensors on `device`.
    ///
    /// # Panics
    /// If an entry of `index` is negative or not below `n_out` (callers build the index
    /// themselves: graphs, batches).
    #[must_use]
    pub fn new(index: &[i64], n_out: usize, device: &Device) -> Self {
        let n_in = index.len();
        let csr = uses_kernels(device).then(|| {
            let (perm, offsets) = csr_of(index, n_out);
            Csr {
                perm: upload::<1, Int>(TensorData::new(perm, [n_in]), device),
                offsets: upload::<1, Int>(TensorData::new(offsets, [n_out + 1]), device),
            }
        });
        Self {
            index: upload::<1, Int>(TensorData::new(index.to_vec(), [n_in]), device),
            csr,
            n_out,
        }
    }

    /// Segments from an index tensor already on a device. On a device that runs nucleate's
    /// kernels this reads the index back to build the CSR form: prefer [`Segments::new`] with
    /// the host index wherever there is one.
    ///
    /// # Panics
    /// As [`Segments::new`].
    #[must_use]
    pub fn from_tensor(index: Tensor<1, Int>, n_out: usize) -> Self {
        let device = index.device();
        if !uses_kernels(&device) {
            return Self {
                index,
                csr: None,
                n_out,
            };
        }
        let host: Vec<i64> = index
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .expect("an int tensor converts to i64");
        Self::new(&host, n_out, &device)
    }

    /// The bucket of each row, `[n_in]`.
    #[must_use]
    pub fn index(&self) -> &Tensor<1, Int> {
        &self.index
    }

    /// Number of rows.
    #[must_use]
    pub fn n_in(&self) -> usize {
        self.index.dims()[0]
    }

    /// Number of buckets.
    #[must_use]
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    pub(crate) fn csr(&self) -> Option<&Csr> {
        self.csr.as_ref()
    }
}

/// `perm` (rows bucket by bucket, stable) and `offsets` (`n_out + 1` entries) of `index`: a
/// counting sort, `O(n_in + n_out)`.
fn csr_of(index: &[i64], n_out: usize) -> (Vec<i64>, Vec<i64>) {
    let bucket = |s: i64| -> usize {
        usize::try_from(s)
            .ok()
            .filter(|&s| s < n_out)
            .unwrap_or_else(|| panic!("Segments: index entry {s} is not in 0..{n_out}"))
    };
    let mut offsets = vec![0i64; n_out + 1];
    for &s in index {
        offsets[bucket(s) + 1] += 1;
    }
    for k in 1..=n_out {
        offsets[k] += offsets[k - 1];
    }
    let mut next: Vec<i64> = offsets[..n_out].to_vec();
    let mut perm = vec![0i64; index.len()];
    for (row, &s) in index.iter().enumerate() {
        let slot = &mut next[bucket(s)];
        perm[*slot as usize] = row as i64;
        *slot += 1;
    }
    (perm, offsets)
}

/// Off: [`set_graph_kernels`]`(false)` was called.
static KERNELS_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns nucleate's graph kernels off (or back on) for the [`Segments`] built from then on:
/// their scatter and gather then take burn's `select_assign`/`select` on every backend. Only
/// for comparing the two paths (`NUCLEATE_GRAPH_KERNELS=off`, `scripts/bench-gpu.sh`).
pub fn set_graph_kernels(enabled: bool) {
    KERNELS_OFF.store(!enabled, std::sync::atomic::Ordering::Relaxed);
}

/// Whether tensors on `device` run nucleate's GPU kernels (burn's cubecl backend, with the
/// `gpu-kernels` feature, unless [`set_graph_kernels`] turned them off).
#[must_use]
pub fn uses_kernels(device: &Device) -> bool {
    if KERNELS_OFF.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    #[cfg(feature = "gpu-kernels")]
    {
        matches!(
            device.clone().inner().as_dispatch(),
            burn::backend::DispatchDevice::Cube(_)
        )
    }
    #[cfg(not(feature = "gpu-kernels"))]
    {
        let _ = device;
        false
    }
}

#[cfg(feature = "gpu-kernels")]
pub(crate) use extension::{segment_gather, segment_sum};

#[cfg(feature = "gpu-kernels")]
mod extension {
    #![allow(missing_docs)]

    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
    use burn::backend::ops::FloatTensorOps;
    use burn::backend::tensor::{FloatTensor, IntTensor};
    use burn::backend::{Autodiff, Backend, Dispatch, backend_extension};
    use burn::tensor::{Int, Shape, Tensor};
    use burn_cubecl::CubeBackend;

    use super::Segments;

    /// The graph operations with nucleate's own kernels. Both take `values` as `[rows, width]`
    /// and the three tensors of a [`Segments`].
    #[backend_extension(
        Cube: cfg(feature = "gpu-kernels"),
        Autodiff,
        Fusion: cfg(feature = "fusion")
    )]
    pub trait SegmentOps: Backend {
        /// `out[s] = Σ_{e: index[e] = s} values[e]`: `[n_in, w]` → `[n_out, w]`.
        #[fusion(dtype = values, shape = summed_shape(values, offsets))]
        fn segment_sum(
            values: FloatTensor<Self>,
            index: IntTensor<Self>,
            perm: IntTensor<Self>,
            offsets: IntTensor<Self>,
        ) -> FloatTensor<Self>;

        /// `out[e] = values[index[e]]`: `[n_out, w]` → `[n_in, w]`.
        #[fusion(dtype = values, shape = gathered_shape(values, index))]
        fn segment_gather(
            values: FloatTensor<Self>,
            index: IntTensor<Self>,
            perm: IntTensor<Self>,
            offsets: IntTensor<Self>,
        ) -> FloatTensor<Self>;
    }

    // Output shapes for the fused backend, which records an operation before running it; only
    // read with burn's `fusion` (native wgpu and CUDA), not by the page's WebGPU build.
    #[cfg_attr(not(feature = "fusion"), allow(dead_code))]
    fn summed_shape(values: &Shape, offsets: &Shape) -> Shape {
        Shape::new([offsets[0] - 1, values[1]])
    }

    #[cfg_attr(not(feature = "fusion"), allow(dead_code))]
    fn gathered_shape(values: &Shape, index: &Shape) -> Shape {
        Shape::new([index[0], values[1]])
    }

    impl SegmentOps for CubeBackend {
        fn segment_sum(
            values: FloatTensor<Self>,
            _index: IntTensor<Self>,
            perm: IntTensor<Self>,
            offsets: IntTensor<Self>,
        ) -> FloatTensor<Self> {
            nucleate_kernels::segment_sum(values, perm, offsets)
        }

        fn segment_gather(
            values: FloatTensor<Self>,
            index: IntTensor<Self>,
            _perm: IntTensor<Self>,
            _offsets: IntTensor<Self>,
        ) -> FloatTensor<Self> {
            Self::float_select(values, 0, index)
        }
    }

    /// The three index tensors a backward pass keeps.
    type State<B> = (IntTensor<B>, IntTensor<B>, IntTensor<B>);

    /// Backward of one of the two operations: each is the other's transpose, so the gradient
    /// of a segment sum is a gather by `index` and that of a gather a segment sum over the CSR.
    #[derive(Debug)]
    struct Transpose {
        /// The forward was the segment sum (else the gather).
        of_sum: bool,
    }

    impl<B: Backend + SegmentOps> Backward<B, 1> for Transpose {
        type State = State<B>;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let (index, perm, offsets) = ops.state;
            unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                if self.of_sum {
                    B::segment_gather(grad, index, perm, offsets)
                } else {
                    B::segment_sum(grad, index, perm, offsets)
                }
            });
        }
    }

    /// The inner backend's `forward`, recorded with its [`Transpose`] backward.
    fn tracked<B: Backend + SegmentOps, C: CheckpointStrategy>(
        of_sum: bool,
        values: FloatTensor<Autodiff<B, C>>,
        (index, perm, offsets): State<B>,
    ) -> FloatTensor<Autodiff<B, C>> {
        let forward = if of_sum {
            B::segment_sum
        } else {
            B::segment_gather
        };
        let (primitive, node) = values.into_parts();
        match (Transpose { of_sum })
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = (index.clone(), perm.clone(), offsets.clone());
                prep.finish(state, forward(primitive, index, perm, offsets))
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(primitive, index, perm, offsets)),
        }
    }

    impl<B: Backend + SegmentOps, C: CheckpointStrategy> SegmentOps for Autodiff<B, C> {
        fn segment_sum(
            values: FloatTensor<Self>,
            index: IntTensor<Self>,
            perm: IntTensor<Self>,
            offsets: IntTensor<Self>,
        ) -> FloatTensor<Self> {
            tracked::<B, C>(true, values, (index, perm, offsets))
        }

        fn segment_gather(
            values: FloatTensor<Self>,
            index: IntTensor<Self>,
            perm: IntTensor<Self>,
            offsets: IntTensor<Self>,
        ) -> FloatTensor<Self> {
            tracked::<B, C>(false, values, (index, perm, offsets))
        }
    }

    /// A [`SegmentOps`] method of the dispatch backend.
    type DispatchOp = fn(
        FloatTensor<Dispatch>,
        IntTensor<Dispatch>,
        IntTensor<Dispatch>,
        IntTensor<Dispatch>,
    ) -> FloatTensor<Dispatch>;

    /// A [`SegmentOps`] operation on `Tensor`s: `op` of the 2-D `rows` with the segments' index
    /// and CSR.
    ///
    /// # Panics
    /// If `segments` has no CSR form (its device does not run the kernels).
    fn call(op: DispatchOp, rows: Tensor<2>, segments: &Segments) -> Tensor<2> {
        let csr = segments
            .csr()
            .expect("Segments built for a device that runs the kernels");
        Tensor::from_dispatch(op(
            rows.into_dispatch(),
            to_dispatch(&segments.index),
            to_dispatch(&csr.perm),
            to_dispatch(&csr.offsets),
        ))
    }

    /// [`SegmentOps::segment_sum`] of 2-D `rows` (`[n_in, w]` → `[n_out, w]`).
    pub(crate) fn segment_sum(rows: Tensor<2>, segments: &Segments) -> Tensor<2> {
        call(<Dispatch as SegmentOps>::segment_sum, rows, segments)
    }

    /// [`SegmentOps::segment_gather`] of 2-D `rows` (`[n_out, w]` → `[n_in, w]`).
    pub(crate) fn segment_gather(rows: Tensor<2>, segments: &Segments) -> Tensor<2> {
        call(<Dispatch as SegmentOps>::segment_gather, rows, segments)
    }

    fn to_dispatch(t: &Tensor<1, Int>) -> IntTensor<Dispatch> {
        t.clone().into_dispatch()
    }
}

#[cfg(test)]
mod tests {
    use super::csr_of;

    #[test]
    fn csr_lists_rows_bucket_by_bucket_stably() {
        // Buckets 0..4; bucket 1 and 3 empty, bucket 2 has rows 0, 3 and 4 (a repeated edge).
        let (perm, offsets) = csr_of(&[2, 0, 4, 2, 2, 0], 5);
        assert_eq!(offsets, vec![0, 2, 2, 5, 5, 6]);
        assert_eq!(perm, vec![1, 5, 0, 3, 4, 2]);
        let (perm, offsets) = csr_of(&[], 3);
        assert_eq!((perm, offsets), (vec![], vec![0, 0, 0, 0]));
    }

    #[test]
    #[should_panic(expected = "index entry 3 is not in 0..3")]
    fn csr_rejects_an_index_out_of_range() {
        let _ = csr_of(&[0, 3], 3);
    }
}
