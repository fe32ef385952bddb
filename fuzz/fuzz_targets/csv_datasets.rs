//! The QM9 and crystal CSV readers on any text give structures or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = nucleate_core::io::qm9::read_qm9_csv(text);
        let _ = nucleate_core::io::crystal_csv::read_crystal_csv(text);
    }
});
