//! An annotated contact sheet: a grid of frames with boxes and labels, written as PNG.

use std::path::Path;

use anyhow::Context;
use gstfess::draw::{draw_label, draw_objects, RgbImage};
use gstfess::roi_meta::RoiObject;

/// One frame kept for the sheet, already scaled to the tile size and annotated.
pub struct Tile {
    pub rgb: Vec<u8>,
    pub width: usize,
    pub height: usize,
}

/// Scales a packed RGB frame to `tile_width` (nearest sample; for viewing only) and draws each
/// object's box and caption on it.
pub fn annotate(
    rgb: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    tile_width: usize,
    caption: &str,
    objects: &[RoiObject],
) -> Tile {
    let tile_height = (height * tile_width / width).max(1);
    let mut out = vec![0u8; tile_width * tile_height * 3];
    for y in 0..tile_height {
        let sy = y * height / tile_height;
        for x in 0..tile_width {
            let sx = x * width / tile_width;
            let s = sy * stride + sx * 3;
            let d = (y * tile_width + x) * 3;
            out[d..d + 3].copy_from_slice(&rgb[s..s + 3]);
        }
    }
    let mut img = RgbImage {
        data: &mut out,
        width: tile_width,
        height: tile_height,
        stride: tile_width * 3,
    };
    draw_objects(&mut img, objects, 2, 1, true, false);
    draw_label(
        &mut img,
        0,
        tile_height.saturating_sub(9),
        caption,
        [0, 0, 0],
        1,
    );
    Tile {
        rgb: out,
        width: tile_width,
        height: tile_height,
    }
}

/// Lays `tiles` out `columns` wide and writes the PNG.
pub fn write(path: &Path, tiles: &[Tile], columns: usize) -> anyhow::Result<()> {
    anyhow::ensure!(!tiles.is_empty(), "no frames to put on the contact sheet");
    let (tw, th) = (tiles[0].width, tiles[0].height);
    let rows = tiles.len().div_ceil(columns);
    let gap = 4;
    let (w, h) = (columns * (tw + gap) - gap, rows * (th + gap) - gap);
    let mut canvas = vec![40u8; w * h * 3];
    for (i, t) in tiles.iter().enumerate() {
        let (ox, oy) = ((i % columns) * (tw + gap), (i / columns) * (th + gap));
        for y in 0..t.height.min(th) {
            let d = ((oy + y) * w + ox) * 3;
            canvas[d..d + t.width.min(tw) * 3]
                .copy_from_slice(&t.rgb[y * t.width * 3..(y * t.width + t.width.min(tw)) * 3]);
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&canvas)?;
    Ok(())
}
