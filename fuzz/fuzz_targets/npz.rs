//! Any bytes given to the npz (rMD17 layout) reader give structures or an error, never a panic,
//! a hang or an allocation beyond what the input can justify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nucleate_core::io::npz::read_rmd17(data);
});
