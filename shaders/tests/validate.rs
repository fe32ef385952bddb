//! Every shader module parses and validates with naga, the WGSL front end wgpu itself uses.

use naga::valid::{Capabilities, ValidationFlags, Validator};

#[test]
fn every_shader_validates_with_naga() {
    assert!(!nucleate_shaders::ALL.is_empty());
    for (name, source) in nucleate_shaders::ALL {
        let module = naga::front::wgsl::parse_str(source).unwrap_or_else(|e| {
            panic!("{name}.wgsl does not parse:\n{}", e.emit_to_string(source))
        });
        Validator::new(ValidationFlags::all(), Capabilities::empty())
            .validate(&module)
            .unwrap_or_else(|e| {
                panic!(
                    "{name}.wgsl does not validate:\n{}",
                    e.emit_to_string(source)
                )
            });
        println!("{name}: {} entry points valid", module.entry_points.len());
    }
}

#[test]
fn molecule_shader_has_the_entry_points_the_renderer_uses() {
    let module = naga::front::wgsl::parse_str(nucleate_shaders::MOLECULE).expect("parses");
    let names: Vec<&str> = module
        .entry_points
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for want in ["vs_atom", "fs_atom", "vs_bond", "fs_bond"] {
        assert!(
            names.contains(&want),
            "missing entry point {want}; have {names:?}"
        );
    }
}
