//! The WGSL each kernel becomes, compiled offline (no GPU) by CubeCL's WGSL compiler, kept
//! under `shaders/wgsl/kernels/` for review and checked here: the committed file must be what
//! the kernel compiles to today, and it must validate with naga, the WGSL front end of wgpu.
//!
//! After changing a kernel, regenerate the files with
//! `NUCLEATE_WRITE_WGSL=1 cargo test --workspace -- kernel_wgsl` and review the diff.

use std::path::PathBuf;
use std::sync::Arc;

use burn_backend::DType;
use burn_backend::cubecl::dtype_to_storage_type;
use cubecl::Compiler;
use cubecl::ir::{DeviceIdentity, HardwareProperties, MemoryDeviceProperties};
use cubecl::prelude::*;
use cubecl::wgpu::WgslCompiler;
use naga::valid::{Capabilities, ValidationFlags, Validator};
use nucleate_kernels::segment_sum_kernel;

/// Properties of a generic WebGPU-class device: what the WGSL compiler needs to know.
fn properties() -> Arc<DeviceProperties> {
    Arc::new(DeviceProperties::new(
        Default::default(),
        MemoryDeviceProperties::new(u64::from(u32::MAX), 256),
        HardwareProperties {
            load_width: 128,
            vector_register_count: None,
            plane_size_min: 32,
            plane_size_max: 32,
            max_bindings: 8,
            max_shared_memory_size: 16384,
            max_cube_count: (65535, 65535, 65535),
            max_units_per_cube: 256,
            max_cube_dim: (256, 256, 64),
            num_streaming_multiprocessors: None,
            num_tensor_cores: None,
            min_tensor_cores_dim: None,
            num_cpu_cores: None,
            last_level_cache_size: None,
            max_vector_size: VectorSize::MAX,
            cube_mma_reserved_shared_memory: 0,
        },
        cubecl::profile::TimingMethod::Device,
        DeviceIdentity {
            name: "offline".to_string(),
            fingerprint: "offline".to_string(),
            physical: None,
        },
    ))
}

fn wgsl(kernel: impl cubecl::CubeKernel) -> String {
    WgslCompiler
        .compile(kernel.define(), &Default::default())
        .expect("the kernel compiles to WGSL")
        .to_string()
}

/// Compares `source` with `shaders/wgsl/kernels/<name>.wgsl` (or writes it when
/// `NUCLEATE_WRITE_WGSL` is set) and validates it with naga.
fn check(name: &str, source: &str) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: does not parse:\n{}", e.emit_to_string(source)));
    Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: does not validate:\n{}", e.emit_to_string(source)));
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../wgsl/kernels")
        .join(format!("{name}.wgsl"));
    if std::env::var_os("NUCLEATE_WRITE_WGSL").is_some() {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, source).expect("write the WGSL");
        println!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with NUCLEATE_WRITE_WGSL=1 (see this file's header)",
            path.display()
        )
    });
    assert!(
        committed == source,
        "{} is not what the kernel compiles to today; regenerate it with NUCLEATE_WRITE_WGSL=1 \
         and review the diff",
        path.display()
    );
    println!("{name}: {} lines of WGSL, valid", source.lines().count());
}

#[test]
fn segment_sum_kernel_wgsl_is_committed_and_valid() {
    let settings = KernelSettings::new(
        *CubeDim::new_1d(256),
        ExecutionMode::Checked,
        AddressType::U32,
    );
    let kernel = segment_sum_kernel::SegmentSumKernel::new(
        settings,
        properties(),
        Arc::new(TargetProperties::default()),
        BufferCompilationArg { inplace: None },
        BufferCompilationArg { inplace: None },
        BufferCompilationArg { inplace: None },
        BufferCompilationArg { inplace: None },
        (),
        [
            dtype_to_storage_type(DType::F32),
            dtype_to_storage_type(DType::I32),
        ],
    );
    let source = wgsl(kernel);
    assert!(source.contains("@compute"), "{source}");
    check("segment_sum_f32_i32", &source);
}
