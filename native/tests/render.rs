//! End-to-end render test: `nucleate render` draws molecules to PNG offscreen (on this machine
//! through Mesa's lavapipe), and the atoms' colours appear where the camera projects them.
//!
//! Needs a wgpu adapter: a GPU or a software driver (`mesa-vulkan-drivers`); `scripts/setup.sh`
//! installs it. Test names start with `gpu_render` so the test command can run them as a stage.

use nucleate_core::Structure;
use nucleate_shaders::render::{MoleculeScene, OrbitCamera};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Render `input` with the CLI at `width`×`height`; return the decoded RGBA pixels.
fn render_with_cli(input: &Path, width: u32, height: u32) -> Vec<u8> {
    let out = std::env::temp_dir().join(format!(
        "nucleate-render-test-{}-{}.png",
        std::process::id(),
        input.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    let result = Command::new(env!("CARGO_BIN_EXE_nucleate"))
        .args([
            "render",
            &input.to_string_lossy(),
            "-o",
            &out.to_string_lossy(),
            "--size",
        ])
        .arg(format!("{width}x{height}"))
        .output()
        .expect("nucleate runs");
    assert!(
        result.status.success(),
        "nucleate render failed:\n{}\n{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    println!("{}", String::from_utf8_lossy(&result.stdout).trim());
    // A successful render is quiet: no driver "ERROR" lines from backends probed and not used,
    // no loader complaints about a missing XDG_RUNTIME_DIR (unset here, as on CI).
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        !stderr.contains("ERROR") && !stderr.contains("XDG_RUNTIME_DIR"),
        "a successful render printed:\n{stderr}"
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&out).expect("png written"),
    ));
    let mut reader = decoder.read_info().expect("valid png");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    assert_eq!((info.width, info.height), (width, height));
    assert_eq!(info.color_type, png::ColorType::Rgba);
    std::fs::remove_file(&out).ok();
    buf
}

/// Which element colour a lit pixel shows (sRGB bytes), for the elements we test with.
fn classify([r, g, b]: [u8; 3]) -> Option<u8> {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    if r > 120.0 && g < 0.35 * r && b < 0.35 * r {
        Some(8)
    } else if b > 120.0 && r < 0.6 * b && g < 0.75 * b {
        Some(7)
    } else if max - min < 18.0 && max >= 200.0 {
        Some(1)
    } else if max - min < 18.0 && (70.0..190.0).contains(&max) {
        Some(6)
    } else {
        None
    }
}

/// For every atom whose centre is not hidden behind another atom, the pixel at its projected
/// centre must show its element's colour. Returns (checked, matched).
fn check_atoms(structure: &Structure, pixels: &[u8], width: u32, height: u32) -> (usize, usize) {
    let scene = MoleculeScene::from_structure(structure);
    let camera = OrbitCamera::framing(&scene, width as f32 / height as f32);
    let focal = height as f32 / 2.0 / (camera.fov_y / 2.0).tan();
    let projected: Vec<(f32, f32, f32, f32)> = scene
        .atoms
        .iter()
        .map(|a| {
            let (x, y, depth) = camera
                .project(a.center, width, height)
                .expect("atom in front of the camera");
            (x, y, depth, a.radius * focal / depth)
        })
        .collect();
    let (mut checked, mut matched) = (0, 0);
    for (i, &(x, y, depth, _)) in projected.iter().enumerate() {
        let hidden = projected.iter().enumerate().any(|(j, &(xj, yj, dj, rj))| {
            j != i && dj < depth && ((xj - x).powi(2) + (yj - y).powi(2)).sqrt() < rj + 2.0
        });
        if hidden || !matches!(structure.numbers[i], 1 | 6 | 7 | 8) {
            continue;
        }
        let idx = ((y as usize) * width as usize + x as usize) * 4;
        let rgb = [pixels[idx], pixels[idx + 1], pixels[idx + 2]];
        checked += 1;
        if classify(rgb) == Some(structure.numbers[i]) {
            matched += 1;
        } else {
            println!(
                "atom {i} (Z={}) at ({x:.0}, {y:.0}) shows {rgb:?}",
                structure.numbers[i]
            );
        }
    }
    // The corners are background.
    for (x, y) in [
        (0, 0),
        (width - 1, 0),
        (0, height - 1),
        (width - 1, height - 1),
    ] {
        let idx = ((y * width + x) * 4) as usize;
        let bg = nucleate_shaders::render::BACKGROUND_SRGB.map(|c| (c * 255.0).round());
        for k in 0..3 {
            assert!(
                (f32::from(pixels[idx + k]) - bg[k]).abs() <= 2.0,
                "corner ({x},{y}) is not background"
            );
        }
    }
    (checked, matched)
}

fn assert_renders(file: &Path, width: u32, height: u32) {
    let text = std::fs::read_to_string(file).expect("test molecule exists");
    let structure = nucleate_core::io::xyz::read_xyz(&text)
        .expect("parses")
        .remove(0);
    let pixels = render_with_cli(file, width, height);
    let (checked, matched) = check_atoms(&structure, &pixels, width, height);
    println!(
        "{}: {matched}/{checked} unoccluded atoms show their element colour",
        file.display()
    );
    assert!(
        checked >= structure.n_atoms() / 2,
        "too few unoccluded atoms to judge ({checked})"
    );
    assert_eq!(
        matched,
        checked,
        "atom colours missing from the picture of {}",
        file.display()
    );
}

#[test]
fn gpu_render_bundled_molecule_shows_every_atom_in_its_colour() {
    assert_renders(&repo().join("www/assets/molecule.xyz"), 640, 480);
}

#[test]
fn gpu_render_ethanol_from_ase_extxyz_in_a_tall_image() {
    // First frame of an ASE-written trajectory the renderer was not developed against.
    assert_renders(
        &repo().join(
            "tests/data/reader_samples/botnet_datasets/dataset_ethanol/test_norm_mode_3005.xyz",
        ),
        300,
        500,
    );
}

#[test]
fn gpu_render_reports_bad_input_with_line_and_field() {
    let dir = std::env::temp_dir().join(format!("nucleate-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    let bad = dir.join("bad.xyz");
    std::fs::write(&bad, "2\ncomment\nC 0 0 0\nO 1.2 oops 0\n").expect("write");
    let result = Command::new(env!("CARGO_BIN_EXE_nucleate"))
        .args([
            "render",
            &bad.to_string_lossy(),
            "-o",
            &dir.join("x.png").to_string_lossy(),
        ])
        .output()
        .expect("nucleate runs");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(
        stderr.contains("line 4") && stderr.contains("\"y\"") && stderr.contains("bad.xyz"),
        "{stderr}"
    );
    assert!(!dir.join("x.png").exists());
    std::fs::remove_dir_all(&dir).ok();
}
