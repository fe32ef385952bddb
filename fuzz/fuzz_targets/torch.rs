//! Any bytes given to the PyTorch checkpoint reader (zip container + pickle machine) give
//! tensors and hyper-parameters or an error, never a panic, a hang or an allocation beyond what
//! the input can justify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nucleate_core::io::torch::read_torch_checkpoint(data);
});
