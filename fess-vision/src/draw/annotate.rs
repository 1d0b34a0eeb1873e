//! Drawing boxes and captions on video frames, and blurring faces or persons for privacy, for
//! annotated output a person can look at.

use crate::draw::canvas::Canvas;
use crate::draw::font::CaptionFont;
use crate::draw::rect::Rect;
use crate::geometry::BBox;
use crate::objects::RoiObject;

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

/// Draws the outline of `b` (normalised 0–1) `thickness` pixels wide, inside the box.
pub fn draw_box(canvas: &mut Canvas, b: &BBox, color: [u8; 3], thickness: usize) {
    let r = Rect::from_normalised(b, canvas.width(), canvas.height());
    let t = thickness.min(r.width()).min(r.height());
    for edge in [
        Rect { y1: r.y0 + t, ..r },
        Rect { y0: r.y1 - t, ..r },
        Rect { x1: r.x0 + t, ..r },
        Rect { x0: r.x1 - t, ..r },
    ] {
        canvas.fill(edge, color);
    }
}

/// Writes `text` at `px` pixels per em on a filled background whose bottom-left corner is at
/// `(x, bottom)` (moved down when that would leave the frame), in black or white, whichever reads
/// better on `bg`.
pub fn draw_label(
    canvas: &mut Canvas,
    x: usize,
    bottom: usize,
    text: &str,
    bg: [u8; 3],
    font: &CaptionFont,
    px: f32,
) {
    let fg = if (bg[0] as u32 * 299 + bg[1] as u32 * 587 + bg[2] as u32 * 114) / 1000 > 128 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    };
    let mask = font.render(text, px);
    let pad = (px / 8.0).ceil() as usize;
    let height = mask.height + 2 * pad;
    let y = bottom.saturating_sub(height);
    canvas.fill(
        Rect {
            x0: x,
            y0: y,
            x1: x + mask.width + 2 * pad,
            y1: y + height,
        },
        bg,
    );
    canvas.draw_mask(x + pad, y + pad, &mask, fg);
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

/// How [`draw_objects`] draws.
pub struct Style<'a> {
    /// Box outline width, in pixels.
    pub thickness: usize,
    pub font: &'a CaptionFont,
    /// Caption text size, in pixels per em.
    pub font_px: f32,
    pub show_confidence: bool,
}

/// Draws each object's box and caption, coloured by track; an unauthorised face in red.
pub fn draw_objects(canvas: &mut Canvas, objects: &[RoiObject], style: &Style) {
    for o in objects {
        let color = match &o.face {
            Some(f) if f.known && !f.is_authorized => [255, 0, 0],
            _ => color_for(o.track_id.unwrap_or(o.label_id.unsigned_abs() as u64)),
        };
        draw_box(canvas, &o.bbox, color, style.thickness);
        let r = Rect::from_normalised(&o.bbox, canvas.width(), canvas.height());
        let text = caption(o, style.show_confidence);
        draw_label(canvas, r.x0, r.y0, &text, color, style.font, style.font_px);
    }
}

/// Blurs the faces (ROIs labelled `face` or carrying a recognition) and/or the persons in the
/// frame, strongly enough that nobody is recognisable: the blur's radius is a sixth of the
/// region's larger side.
pub fn blur_objects(canvas: &mut Canvas, objects: &[RoiObject], faces: bool, persons: bool) {
    for o in objects {
        let is_face = o.face.is_some() || o.label == "face";
        let is_person = !is_face && o.label == "person";
        if (faces && is_face) || (persons && is_person) {
            let r = Rect::from_normalised(&o.bbox, canvas.width(), canvas.height());
            canvas.blur(r, (r.width().max(r.height()) / 6).max(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::draw::font::DEFAULT_FONT;
    use crate::objects::FaceInfo;

    const W: usize = 40;
    const H: usize = 30;

    fn rgb_canvas(data: &mut [u8]) -> Canvas<'_> {
        crate::draw::canvas::rgb_test_canvas(data, W, H)
    }

    fn px(d: &[u8], x: usize, y: usize) -> [u8; 3] {
        let o = (y * W + x) * 3;
        [d[o], d[o + 1], d[o + 2]]
    }

    fn font() -> CaptionFont {
        CaptionFont::load(Path::new(DEFAULT_FONT)).unwrap()
    }

    #[test]
    fn box_outline_and_label_land_where_asked() {
        let mut data = vec![0u8; W * H * 3];
        draw_box(
            &mut rgb_canvas(&mut data),
            &BBox::new(0.0, 0.0, 0.5, 0.5),
            [255, 0, 0],
            1,
        );
        assert_eq!(px(&data, 0, 0), [255, 0, 0]);
        assert_eq!(px(&data, 20, 7), [255, 0, 0]);
        assert_eq!(px(&data, 7, 15), [255, 0, 0]);
        assert_eq!(px(&data, 10, 7), [0, 0, 0]);
        assert_eq!(px(&data, 21, 7), [0, 0, 0]);

        let mut data = vec![0u8; W * H * 3];
        draw_label(
            &mut rgb_canvas(&mut data),
            2,
            H,
            "11",
            [0, 0, 255],
            &font(),
            12.0,
        );
        // A blue background ending at the bottom row, white ink on it, nothing left of x = 2.
        assert_eq!(px(&data, 2, H - 1), [0, 0, 255]);
        assert_eq!(px(&data, 1, H - 1), [0, 0, 0]);
        let pixels: Vec<[u8; 3]> = (0..H)
            .flat_map(|y| (0..W).map(move |x| (x, y)))
            .map(|(x, y)| px(&data, x, y))
            .collect();
        assert!(pixels.contains(&[255, 255, 255]));
        // "11" at 12 px is narrower than the frame: its right part stays black.
        assert!((30..W).all(|x| px(&data, x, H - 1) == [0, 0, 0]));
    }

    #[test]
    fn names_keep_their_accents() {
        let font = font();
        let face = |name: &str| {
            let mut o = RoiObject::tracked("face", 0, 0.9, BBox::new(0.1, 0.6, 0.4, 0.9), 4);
            o.face = Some(FaceInfo {
                face_id: "face_4".into(),
                person_name: Some(name.into()),
                confidence: 0.8,
                is_authorized: true,
                known: true,
            });
            o
        };
        let style = Style {
            thickness: 1,
            font: &font,
            font_px: 10.0,
            show_confidence: false,
        };
        let draw = |name: &str| {
            let mut data = vec![0u8; W * H * 3];
            draw_objects(&mut rgb_canvas(&mut data), &[face(name)], &style);
            data
        };
        let (plain, accented) = (draw("Jose"), draw("José"));
        assert_ne!(plain, accented);
        // Only the caption differs, not the box below it.
        let below = 18 * W * 3;
        assert_eq!(plain[below..], accented[below..]);
    }

    #[test]
    fn only_the_chosen_kinds_are_blurred() {
        let person = RoiObject::tracked("person", 0, 0.9, BBox::new(0.0, 0.0, 0.45, 0.9), 1);
        let mut face = RoiObject::tracked("face", 0, 0.9, BBox::new(0.55, 0.0, 0.95, 0.5), 2);
        face.parent_id = 1;
        let busy: Vec<u8> = (0..W * H * 3).map(|i| (i * 37 % 11) as u8 * 20).collect();
        let blurred = |faces: bool, persons: bool| {
            let mut data = busy.clone();
            blur_objects(
                &mut rgb_canvas(&mut data),
                &[person.clone(), face.clone()],
                faces,
                persons,
            );
            data
        };
        let changed = |d: &[u8], x: usize, y: usize| px(d, x, y) != px(&busy, x, y);
        let faces_only = blurred(true, false);
        assert!(changed(&faces_only, 30, 5));
        assert!(!changed(&faces_only, 8, 10));
        let persons_only = blurred(false, true);
        assert!(!changed(&persons_only, 30, 5));
        assert!(changed(&persons_only, 8, 10));
        assert_eq!(blurred(false, false), busy);
        // Right of the person, below the face: never touched.
        assert!(!changed(&blurred(true, true), 30, 25));
    }
}
