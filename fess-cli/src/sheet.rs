//! An annotated contact sheet: a grid of frames with boxes and labels, written as PNG.

use std::path::Path;

use anyhow::Context;
use fess_vision::draw::annotate::{draw_label, draw_objects, Style};
use fess_vision::draw::canvas::{Canvas, CanvasFormat};
use fess_vision::draw::font::CaptionFont;
use fess_vision::objects::RoiObject;
use fess_vision::preprocess::YuvColour;

/// Caption size on a tile, in pixels per em (tiles are a few hundred pixels wide).
const TILE_FONT_PX: f32 = 10.0;

/// One frame kept for the sheet, already scaled to the tile size and annotated.
pub struct Tile {
    pub rgb: Vec<u8>,
    pub width: usize,
    pub height: usize,
}

/// Makes the tiles: frames scaled to `tile_width` with their objects drawn in `font`.
pub struct TileMaker {
    pub font: CaptionFont,
    pub tile_width: usize,
}

impl TileMaker {
    /// Scales a packed RGB frame to the tile width (nearest sample; for viewing only) and draws
    /// each object's box and caption on it.
    pub fn annotate(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        stride: usize,
        caption: &str,
        objects: &[RoiObject],
    ) -> Tile {
        let (tile_width, font) = (self.tile_width, &self.font);
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
        let mut canvas = Canvas::new(
            CanvasFormat::Rgb,
            tile_width,
            tile_height,
            [&mut out, &mut [], &mut []],
            [tile_width * 3, 0, 0],
            YuvColour::default(),
        )
        .expect("the tile's buffer is sized for its canvas");
        let style = Style {
            thickness: 2,
            font,
            font_px: TILE_FONT_PX,
            show_confidence: true,
        };
        draw_objects(&mut canvas, objects, &style);
        draw_label(
            &mut canvas,
            0,
            tile_height,
            caption,
            [0, 0, 0],
            font,
            TILE_FONT_PX,
        );
        Tile {
            rgb: out,
            width: tile_width,
            height: tile_height,
        }
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
