//! `.safetensors` files through the `safetensors` crate.

use std::collections::BTreeMap;

use super::{DType, TorchError, TorchTensor};

impl DType {
    /// From a safetensors dtype; `None` for the 4-, 6- and 8-bit floats and complex types.
    fn from_safetensors(dtype: safetensors::Dtype) -> Option<DType> {
        use safetensors::Dtype as S;
        Some(match dtype {
            S::F64 => DType::F64,
            S::F32 => DType::F32,
            S::F16 => DType::F16,
            S::BF16 => DType::BF16,
            S::I64 => DType::I64,
            S::I32 => DType::I32,
            S::I16 => DType::I16,
            S::I8 => DType::I8,
            S::U8 => DType::U8,
            S::U16 => DType::U16,
            S::U32 => DType::U32,
            S::U64 => DType::U64,
            S::BOOL => DType::Bool,
            _ => return None,
        })
    }
}

/// Read a `.safetensors` file (an 8-byte header length, a JSON header, the data) with the
/// `safetensors` crate, which checks the header, the offsets and the sizes; each tensor is
/// converted to f32 as the checkpoint tensors are.
///
/// # Errors
/// [`TorchError::Safetensors`] for whatever the crate rejects (header length beyond the input,
/// malformed JSON, offsets outside the data or not matching the shape); [`TorchError::Tensor`]
/// for a dtype without an f32 conversion (4-, 6-, 8-bit floats, complex).
pub fn read_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, TorchTensor>, TorchError> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| TorchError::Safetensors(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        let dtype = DType::from_safetensors(view.dtype()).ok_or_else(|| TorchError::Tensor {
            key: name.clone(),
            msg: format!("unsupported dtype {:?}", view.dtype()),
        })?;
        let raw = view.data();
        let values = (0..raw.len() / dtype.size())
            .map(|i| dtype.get(raw, i, false))
            .collect();
        out.insert(
            name,
            TorchTensor {
                shape: view.shape().to_vec(),
                dtype: dtype.name().to_owned(),
                data: values,
            },
        );
    }
    Ok(out)
}
