//! `nucleate render FILE -o out.png [--size WxH]`.

use anyhow::{Context, bail};
use nucleate_shaders::render::{MoleculeScene, OrbitCamera, SceneOptions, render_offscreen};
use std::path::PathBuf;

/// Arguments of `nucleate render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Structure file (first frame is drawn).
    pub file: PathBuf,
    /// Output PNG.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Image size as WIDTHxHEIGHT.
    #[arg(long, default_value = "800x600", value_parser = parse_size)]
    pub size: (u32, u32),
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {text:?}"))?;
    let parse = |s: &str, what: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|&v| (1..=16384).contains(&v))
            .ok_or_else(|| format!("{what} must be an integer in 1..=16384, got {s:?}"))
    };
    Ok((parse(w, "width")?, parse(h, "height")?))
}

/// Render the first structure of `args.file` to `args.output`.
pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let structures = crate::input::read_structures(&args.file)?;
    let Some(structure) = structures.first() else {
        bail!("no structure in {}", args.file.display());
    };
    let (width, height) = args.size;
    let scene = MoleculeScene::build(
        structure,
        &SceneOptions {
            cell: true,
            images: true,
            color_as: None,
        },
    );
    let camera = OrbitCamera::framing(&scene, width as f32 / height as f32);
    let (adapter, device, queue) = crate::backend::render_device()?;
    let pixels = pollster::block_on(render_offscreen(
        &device, &queue, &scene, &camera, width, height,
    ))?;
    write_png(&args.output, width, height, &pixels)?;
    let info = adapter.get_info();
    println!(
        "rendered {} ({} atoms, {} bonds) to {} [{}x{}, {} via {:?}]",
        structure.formula(),
        structure.n_atoms(),
        scene.bonds.len(),
        args.output.display(),
        width,
        height,
        info.name,
        info.backend
    );
    Ok(())
}

/// Write an sRGB RGBA8 image as PNG, atomically (temporary file, then rename).
fn write_png(path: &std::path::Path, width: u32, height: u32, rgba: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("png.partial");
    {
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_source_srgb(png::SrgbRenderingIntent::Perceptual);
        let mut writer = encoder.write_header().context("writing PNG header")?;
        writer.write_image_data(rgba).context("writing PNG data")?;
    }
    crate::fsutil::commit(&tmp, path)
}
