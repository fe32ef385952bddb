//! Scatter reductions: sum or average rows of a tensor into the buckets of a [`Segments`], and
//! the gather that is their transpose. Every scatter and gather of the backbones goes through
//! these three functions.
//!
//! How it works: on devices that run nucleate's kernels ([`super::segment`]) the sum is a
//! segmented reduction over the CSR layout and the gather's backward is that same reduction.
//! Elsewhere (the CPU backends) `select_assign(0, index, values, IndexingUpdateOp::Add)` on a
//! zero tensor accumulates duplicate indices (`out[index[e]] += values[e]`), which is exactly a
//! segment sum; its gradient is a `select` (gather). The mean divides by the bucket counts
//! (empty buckets stay zero). Tensors created here take the dtype of `values`.
//!
//! Both reductions and [`gather_rows`] work on the 2-D view `[rows, rest]` of their operand:
//! burn's flex CPU backend copies or accumulates whole contiguous rows for 2-D
//! `select`/`select_assign` but falls back to per-element index arithmetic for higher ranks,
//! which made the ET's vector-message scatter 20 % of a training step on flex
//! (`scripts/bench-backbones.sh`, README "Benchmarks").

use burn::tensor::{IndexingUpdateOp, Tensor};

use super::segment::Segments;

/// Sum rows of `values` into the buckets of `segments`: `out[index[e]] += values[e]`.
///
/// # Shapes
/// - `values`: `[n_in, ...]`
/// - output: `[n_out, ...]`
pub fn scatter_sum<const D: usize>(values: Tensor<D>, segments: &Segments) -> Tensor<D> {
    let n_out = segments.n_out();
    let mut shape = values.dims();
    shape[0] = n_out;
    let rows = rows_2d(values);
    #[cfg(feature = "gpu-kernels")]
    if segments.csr().is_some() {
        return super::segment::segment_sum(rows, segments).reshape(shape);
    }
    let [_, width] = rows.dims();
    Tensor::<2>::zeros([n_out, width], (&rows.device(), rows.dtype()))
        .select_assign(0, segments.index().clone(), rows, IndexingUpdateOp::Add)
        .reshape(shape)
}

/// Rows of `values` picked by the segments' index: `out[e] = values[index[e]]` (a `select` on
/// dimension 0, done on the 2-D view, see the module notes). Its gradient is a
/// [`scatter_sum`].
///
/// # Shapes
/// - `values`: `[n_out, ...]`
/// - output: `[n_in, ...]`
pub fn gather_rows<const D: usize>(values: Tensor<D>, segments: &Segments) -> Tensor<D> {
    let mut shape = values.dims();
    shape[0] = segments.n_in();
    let rows = rows_2d(values);
    #[cfg(feature = "gpu-kernels")]
    if segments.csr().is_some() {
        return super::segment::segment_gather(rows, segments).reshape(shape);
    }
    rows.select(0, segments.index().clone()).reshape(shape)
}

/// Rows of a lookup `table` (`[rows, F]`, e.g. an element embedding) picked by the segments'
/// index: [`gather_rows`] after fitting the table to the segments' `n_out` buckets — rows the
/// index cannot reach are cut off, missing ones are zero — so that its backward is the kernel
/// segment sum whatever the table's size.
///
/// # Panics
/// If an entry of the index is not below the table's rows (as `select` would).
pub fn gather_table(table: Tensor<2>, segments: &Segments) -> Tensor<2> {
    let [rows, width] = table.dims();
    let n_out = segments.n_out();
    let table = match rows.cmp(&n_out) {
        std::cmp::Ordering::Equal => table,
        std::cmp::Ordering::Greater => table.narrow(0, 0, n_out),
        std::cmp::Ordering::Less => {
            let options = (&table.device(), table.dtype());
            Tensor::cat(
                vec![table, Tensor::zeros([n_out - rows, width], options)],
                0,
            )
        }
    };
    gather_rows(table, segments)
}

/// `[n, a, b, ...]` → `[n, a·b·...]` (a 1-D tensor becomes one column).
fn rows_2d<const D: usize>(values: Tensor<D>) -> Tensor<2> {
    let dims = values.dims();
    let width: usize = dims[1..].iter().product();
    values.reshape([dims[0], width])
}

/// Average rows of `values` per bucket; empty buckets are zero.
///
/// # Shapes
/// - `values`: `[n_in, ...]`
/// - output: `[n_out, ...]`
pub fn scatter_mean<const D: usize>(values: Tensor<D>, segments: &Segments) -> Tensor<D> {
    let options = (&values.device(), values.dtype());
    let n_in = values.dims()[0];
    let n_out = segments.n_out();
    let sums = scatter_sum(values, segments);
    let counts = scatter_sum(Tensor::<1>::ones([n_in], options), segments) // [n_out]
        .clamp_min(1.0);
    let mut shape = [1; D];
    shape[0] = n_out;
    sums.div(counts.reshape(shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_sum_accumulates_duplicates() {
        let device = crate::testing::cpu_device();
        let values = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], &device);
        let index = Segments::new(&[0, 2, 0], 3, &device);
        let out: Vec<f32> = scatter_sum(values.clone(), &index)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(out, vec![6.0, 8.0, 0.0, 0.0, 3.0, 4.0]);
        let mean: Vec<f32> = scatter_mean(values, &index)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(mean, vec![3.0, 4.0, 0.0, 0.0, 3.0, 4.0]);
    }

    #[test]
    fn higher_ranks_go_through_rows() {
        let device = crate::testing::cpu_device();
        // [3, 2, 2]: rows 0 and 2 land in bucket 1, row 1 in bucket 0.
        let values = Tensor::<1>::from_floats(
            [
                1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
            ],
            &device,
        )
        .reshape([3, 2, 2]);
        let index = Segments::new(&[1, 0, 1], 2, &device);
        let sum = scatter_sum(values.clone(), &index);
        assert_eq!(sum.dims(), [2, 2, 2]);
        let sum: Vec<f32> = sum.into_data().try_into_vec().unwrap();
        assert_eq!(sum, vec![5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 14.0, 16.0]);
        let picked = gather_rows(values, &Segments::new(&[2, 2, 0, 1], 3, &device));
        assert_eq!(picked.dims(), [4, 2, 2]);
        let picked: Vec<f32> = picked.into_data().try_into_vec().unwrap();
        assert_eq!(
            &picked[..8],
            &[9.0, 10.0, 11.0, 12.0, 9.0, 10.0, 11.0, 12.0]
        );
        assert_eq!(&picked[8..], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        // 1-D values: one column.
        let ones = Tensor::<1>::ones([3], &device);
        let counts: Vec<f32> = scatter_sum(ones, &index)
            .into_data()
            .try_into_vec()
            .unwrap();
        assert_eq!(counts, vec![1.0, 2.0]);
    }
}
