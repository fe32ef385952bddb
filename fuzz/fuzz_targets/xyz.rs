//! Any bytes given to the xyz reader give structures or an error, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nucleate_core::io::{Format, read_bytes};

fuzz_target!(|data: &[u8]| {
    let _ = read_bytes(data, Format::Xyz);
});
