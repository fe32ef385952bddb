//! Parameter initialisation shared by the backbones (TorchMD-Net / EDM conventions).

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// A linear layer `d_in → d_out` with Xavier-uniform weights (gain `gain`) and, if `bias`, a
/// zero bias (TorchMD-Net's `reset_parameters`; burn's own init would also draw the bias).
pub fn xavier_linear(d_in: usize, d_out: usize, bias: bool, gain: f64, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_in, d_out)
        .with_bias(false)
        .with_initializer(Initializer::XavierUniform { gain })
        .init(device);
    if bias {
        linear.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
    }
    linear
}
