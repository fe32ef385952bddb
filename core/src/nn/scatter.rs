//! Scatter reductions: sum or average rows of a tensor into buckets given by an index.
//!
//! How it works: `select_assign(0, index, values, IndexingUpdateOp::Add)` on a zero tensor
//! accumulates duplicate indices (`out[index[e]] += values[e]`), which is exactly a segment
//! sum; its gradient is a `select` (gather). The mean divides by the bucket counts (empty
//! buckets stay zero). Tensors created here take the dtype of `values`.

use burn::tensor::{IndexingUpdateOp, Int, Tensor};

/// Sum rows of `values` into `n_out` buckets: `out[index[e]] += values[e]`.
///
/// # Shapes
/// - `values`: `[n_in, ...]`
/// - `index`: `[n_in]`, entries in `0..n_out`
/// - output: `[n_out, ...]`
pub fn scatter_sum<const D: usize>(
    values: Tensor<D>,
    index: Tensor<1, Int>,
    n_out: usize,
) -> Tensor<D> {
    let mut shape = values.dims();
    shape[0] = n_out;
    Tensor::zeros(shape, (&values.device(), values.dtype())).select_assign(
        0,
        index,
        values,
        IndexingUpdateOp::Add,
    )
}

/// Average rows of `values` per bucket; empty buckets are zero.
///
/// # Shapes
/// - `values`: `[n_in, ...]`
/// - `index`: `[n_in]`, entries in `0..n_out`
/// - output: `[n_out, ...]`
pub fn scatter_mean<const D: usize>(
    values: Tensor<D>,
    index: Tensor<1, Int>,
    n_out: usize,
) -> Tensor<D> {
    let options = (&values.device(), values.dtype());
    let n_in = values.dims()[0];
    let sums = scatter_sum(values, index.clone(), n_out);
    let counts = scatter_sum(Tensor::<1>::ones([n_in], options), index, n_out) // [n_out]
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
        let index = Tensor::<1, Int>::from_ints([0, 2, 0], &device);
        let out: Vec<f32> = scatter_sum(values.clone(), index.clone(), 3)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(out, vec![6.0, 8.0, 0.0, 0.0, 3.0, 4.0]);
        let mean: Vec<f32> = scatter_mean(values, index, 3)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(mean, vec![3.0, 4.0, 0.0, 0.0, 3.0, 4.0]);
    }
}
