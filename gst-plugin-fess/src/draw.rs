//! Drawing boxes and labels on RGB images, for annotated output a person can look at.

use crate::geometry::BBox;
use crate::roi_meta::RoiObject;

/// A mutable packed RGB (3 bytes per pixel) image.
pub struct RgbImage<'a> {
    pub data: &'a mut [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
}

impl RgbImage<'_> {
    fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.width && y < self.height {
            let o = y * self.stride + x * 3;
            self.data[o..o + 3].copy_from_slice(&c);
        }
    }

    fn fill(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, c: [u8; 3]) {
        for y in y0..y1.min(self.height) {
            for x in x0..x1.min(self.width) {
                self.put(x, y, c);
            }
        }
    }
}

/// A colour per track id (or class), well apart on the hue circle.
pub fn color_for(id: u64) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 10] = [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 190],
    ];
    PALETTE[(id % PALETTE.len() as u64) as usize]
}

/// Draws the outline of `b` (normalised 0–1) `thickness` pixels wide.
pub fn draw_box(img: &mut RgbImage, b: &BBox, color: [u8; 3], thickness: usize) {
    let b = b.clamp(1.0, 1.0);
    let (w, h) = (img.width as f32, img.height as f32);
    let x0 = (b.x1 * w) as usize;
    let y0 = (b.y1 * h) as usize;
    let x1 = ((b.x2 * w) as usize).min(img.width.saturating_sub(1));
    let y1 = ((b.y2 * h) as usize).min(img.height.saturating_sub(1));
    for t in 0..thickness {
        for x in x0..=x1 {
            img.put(x, y0 + t, color);
            img.put(x, y1.saturating_sub(t), color);
        }
        for y in y0..=y1 {
            img.put(x0 + t, y, color);
            img.put(x1.saturating_sub(t), y, color);
        }
    }
}

/// Writes `text` (upper-cased; letters, digits and ` #.:-_%/`) with its top-left at `(x, y)`
/// on a filled background, each font pixel `scale` pixels wide.
pub fn draw_label(img: &mut RgbImage, x: usize, y: usize, text: &str, bg: [u8; 3], scale: usize) {
    let fg = if (bg[0] as u32 * 299 + bg[1] as u32 * 587 + bg[2] as u32 * 114) / 1000 > 128 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    };
    let n = text.chars().count();
    img.fill(x, y, x + (n * 6 + 1) * scale, y + 9 * scale, bg);
    for (i, ch) in text.chars().enumerate() {
        let rows = glyph(ch.to_ascii_uppercase());
        for (ry, bits) in rows.iter().enumerate() {
            for rx in 0..5 {
                if bits & (0x10 >> rx) != 0 {
                    let px = x + (1 + i * 6 + rx) * scale;
                    let py = y + (1 + ry) * scale;
                    img.fill(px, py, px + scale, py + scale, fg);
                }
            }
        }
    }
}

/// What is written beside an object: `label #track confidence`, or for a face who it is.
pub fn caption(o: &RoiObject, show_confidence: bool) -> String {
    let mut text = match &o.face {
        Some(f) => match (&f.person_name, f.is_authorized) {
            (Some(name), true) => format!("{name} ok"),
            (Some(name), false) => format!("{name} unauthorized"),
            (None, _) => "unknown face".into(),
        },
        None => o.label.clone(),
    };
    if o.face.is_none() {
        if let Some(t) = o.track_id {
            text.push_str(&format!(" #{t}"));
        }
    }
    if show_confidence {
        let c = o.face.as_ref().map_or(o.confidence, |f| f.confidence);
        text.push_str(&format!(" {c:.2}"));
    }
    text
}

/// Draws each object's box and caption, coloured by track; an unauthorised face in red.
/// `bgr` swaps the colours' channels for BGR images.
pub fn draw_objects(
    img: &mut RgbImage,
    objects: &[RoiObject],
    thickness: usize,
    scale: usize,
    show_confidence: bool,
    bgr: bool,
) {
    for o in objects {
        let mut color = match &o.face {
            Some(f) if f.known && !f.is_authorized => [255, 0, 0],
            _ => color_for(o.track_id.unwrap_or(o.label_id.unsigned_abs() as u64)),
        };
        if bgr {
            color.reverse();
        }
        draw_box(img, &o.bbox, color, thickness);
        let x = (o.bbox.x1.clamp(0.0, 1.0) * img.width as f32) as usize;
        let y =
            ((o.bbox.y1.clamp(0.0, 1.0) * img.height as f32) as usize).saturating_sub(9 * scale);
        draw_label(img, x, y, &caption(o, show_confidence), color, scale);
    }
}

/// 5×7 glyphs, one byte per row, the five low bits from left to right.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        _ => [0; 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_outline_and_label_land_where_asked() {
        let mut data = vec![0u8; 20 * 10 * 3];
        let mut img = RgbImage {
            data: &mut data,
            width: 20,
            height: 10,
            stride: 60,
        };
        draw_box(&mut img, &BBox::new(0.0, 0.0, 0.5, 0.5), [255, 0, 0], 1);
        let px = |d: &[u8], x: usize, y: usize| {
            [
                d[y * 60 + x * 3],
                d[y * 60 + x * 3 + 1],
                d[y * 60 + x * 3 + 2],
            ]
        };
        assert_eq!(px(&data, 0, 0), [255, 0, 0]);
        assert_eq!(px(&data, 10, 3), [255, 0, 0]);
        assert_eq!(px(&data, 5, 3), [0, 0, 0]);
        let mut img = RgbImage {
            data: &mut data,
            width: 20,
            height: 10,
            stride: 60,
        };
        draw_label(&mut img, 0, 0, "1", [0, 0, 255], 1);
        // '1' top row has its single pixel at column 2 of the glyph, drawn white on blue.
        assert_eq!(px(&data, 3, 1), [255, 255, 255]);
        assert_eq!(px(&data, 1, 1), [0, 0, 255]);
    }
}
