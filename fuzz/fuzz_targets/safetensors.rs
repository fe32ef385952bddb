//! Any bytes given to the safetensors reader give tensors or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nucleate_core::io::torch::read_safetensors(data);
});
