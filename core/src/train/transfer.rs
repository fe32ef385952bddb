//! Every host↔device transfer of a training step goes through here, so that it is counted.
//!
//! How it works: [`upload`] builds a tensor from host data and [`read`] / [`read_all`] bring
//! tensors back; each call adds to this thread's [`Counters`] (calls and bytes). The training
//! loop takes [`counters`] before and after a step and logs the difference. A read of several
//! tensors in one burn `Transaction` counts as one read. Counters are per thread so that tests
//! running side by side do not see each other's traffic; a training step runs on one thread.
//! What this module must not do: decide when to transfer — callers do, and the engine keeps
//! reads to one per logged step.

use std::cell::Cell;

use burn::tensor::{Tensor, TensorCreationOptions, TensorData, Transaction};

/// Transfers between host and device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Device→host reads (a transaction of several tensors is one read).
    pub reads: u64,
    /// Host→device uploads.
    pub uploads: u64,
    /// Bytes read to the host.
    pub bytes_to_host: u64,
    /// Bytes uploaded to the device.
    pub bytes_to_device: u64,
}

impl Counters {
    /// The transfers since `earlier` (a snapshot of [`counters`]).
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            reads: self.reads - earlier.reads,
            uploads: self.uploads - earlier.uploads,
            bytes_to_host: self.bytes_to_host - earlier.bytes_to_host,
            bytes_to_device: self.bytes_to_device - earlier.bytes_to_device,
        }
    }
}

thread_local! {
    static COUNTERS: Cell<Counters> = const { Cell::new(Counters {
        reads: 0,
        uploads: 0,
        bytes_to_host: 0,
        bytes_to_device: 0,
    }) };
}

fn add(f: impl FnOnce(&mut Counters)) {
    COUNTERS.with(|c| {
        let mut v = c.get();
        f(&mut v);
        c.set(v);
    });
}

/// This thread's transfers so far.
#[must_use]
pub fn counters() -> Counters {
    COUNTERS.with(Cell::get)
}

/// A tensor from host data (counted as one upload of the bytes it has on the device).
pub fn upload<const D: usize, K>(
    data: TensorData,
    options: impl Into<TensorCreationOptions>,
) -> Tensor<D, K>
where
    K: burn::tensor::kind::Basic,
{
    let t = Tensor::<D, K>::from_data(data, options);
    let bytes = (t.shape().num_elements() * t.dtype().size()) as u64;
    add(|c| {
        c.uploads += 1;
        c.bytes_to_device += bytes;
    });
    t
}

/// One tensor read back to the host (blocking).
pub fn read<const D: usize, K>(tensor: Tensor<D, K>) -> TensorData
where
    K: burn::tensor::kind::Basic,
{
    let data = tensor.into_data();
    add(|c| {
        c.reads += 1;
        c.bytes_to_host += data.bytes().len() as u64;
    });
    data
}

/// [`read`] without blocking, as a browser's WebGPU requires (counted as one read).
///
/// # Errors
/// The backend's error, in words, when the device failed since its last synchronisation.
pub async fn read_async<const D: usize, K>(tensor: Tensor<D, K>) -> Result<TensorData, String>
where
    K: burn::tensor::kind::Basic,
{
    let data = tensor
        .into_data_async()
        .await
        .map_err(|e| format!("{e:?}"))?;
    add(|c| {
        c.reads += 1;
        c.bytes_to_host += data.bytes().len() as u64;
    });
    Ok(data)
}

/// Several float tensors read back in one transaction (counted as one read).
pub fn read_all(tensors: Vec<Tensor<1>>) -> Vec<TensorData> {
    let tx = tensors
        .into_iter()
        .fold(Transaction::default(), Transaction::register);
    let data = tx.execute();
    let bytes: usize = data.iter().map(|d| d.bytes().len()).sum();
    add(|c| {
        c.reads += 1;
        c.bytes_to_host += bytes as u64;
    });
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_and_reads_are_counted() {
        let device = crate::testing::cpu_device();
        let before = counters();
        let t: Tensor<1> = upload(TensorData::new(vec![1.0f32, 2.0, 3.0], [3]), &device);
        let back = read(t.clone() * 2.0);
        assert_eq!(back.iter::<f32>().collect::<Vec<_>>(), vec![2.0, 4.0, 6.0]);
        let both = read_all(vec![t.clone(), t]);
        assert_eq!(both.len(), 2);
        let d = counters().since(&before);
        assert_eq!(d.uploads, 1);
        assert_eq!(d.reads, 2);
        assert_eq!(d.bytes_to_device, 12);
        assert_eq!(d.bytes_to_host, 12 + 24);
    }
}
