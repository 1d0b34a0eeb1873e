//! A video frame to draw on in its own pixel format (packed RGB/BGR or planar I420/NV12), so the
//! overlay needs no `videoconvert`: a colour is converted to YUV once per shape, and chroma is
//! drawn at its half resolution, each sample as opaque as the 2×2 pixels it covers.

use crate::draw::blur::box_blur;
use crate::draw::font::TextMask;
use crate::draw::rect::Rect;
use crate::preprocess::YuvColour;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanvasFormat {
    Rgb,
    Bgr,
    /// Y, U and V planes, chroma halved in both directions.
    I420,
    /// A Y plane and one interleaved UV plane, chroma halved in both directions.
    Nv12,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("plane {plane} of a {width}x{height} frame has {len} bytes with stride {stride}, needs {needed}")]
pub struct PlaneTooSmall {
    plane: usize,
    width: usize,
    height: usize,
    len: usize,
    stride: usize,
    needed: usize,
}

pub struct Canvas<'a> {
    format: CanvasFormat,
    width: usize,
    height: usize,
    planes: [&'a mut [u8]; 3],
    strides: [usize; 3],
    yuv: YuvColour,
}

impl<'a> Canvas<'a> {
    /// `planes`/`strides` in the format's order (unused ones empty); `yuv` says how RGB colours
    /// map to the YUV formats' samples. Fails when a plane is too small for the frame.
    pub fn new(
        format: CanvasFormat,
        width: usize,
        height: usize,
        planes: [&'a mut [u8]; 3],
        strides: [usize; 3],
        yuv: YuvColour,
    ) -> Result<Self, PlaneTooSmall> {
        let canvas = Canvas {
            format,
            width,
            height,
            planes,
            strides,
            yuv,
        };
        for (plane, (rows, cols, channels)) in canvas.plane_shapes().into_iter().enumerate() {
            let (len, stride) = (canvas.planes[plane].len(), strides[plane]);
            let row = cols * channels;
            let needed = if rows == 0 {
                0
            } else {
                (rows - 1) * stride + row
            };
            if stride < row || len < needed {
                return Err(PlaneTooSmall {
                    plane,
                    width,
                    height,
                    len,
                    stride,
                    needed,
                });
            }
        }
        Ok(canvas)
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// Rows, pixels per row and interleaved samples per pixel of each plane (0 rows: unused).
    fn plane_shapes(&self) -> [(usize, usize, usize); 3] {
        let (w, h) = (self.width, self.height);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match self.format {
            CanvasFormat::Rgb | CanvasFormat::Bgr => [(h, w, 3), (0, 0, 0), (0, 0, 0)],
            CanvasFormat::I420 => [(h, w, 1), (ch, cw, 1), (ch, cw, 1)],
            CanvasFormat::Nv12 => [(h, w, 1), (ch, cw, 2), (0, 0, 0)],
        }
    }

    pub fn fill(&mut self, area: Rect, rgb: [u8; 3]) {
        self.paint(area, rgb, |_, _| 255);
    }

    /// Draws `mask` in `rgb` with its top-left at `(x0, y0)`, its coverage as opacity.
    pub fn draw_mask(&mut self, x0: usize, y0: usize, mask: &TextMask, rgb: [u8; 3]) {
        let area = Rect {
            x0,
            y0,
            x1: x0 + mask.width,
            y1: y0 + mask.height,
        };
        self.paint(area, rgb, |x, y| mask.at(x - x0, y - y0));
    }

    /// Blends `rgb` over `area` (clipped to the frame), `alpha(x, y)` the opacity (0–255) of
    /// each pixel of it.
    fn paint(&mut self, area: Rect, rgb: [u8; 3], alpha: impl Fn(usize, usize) -> u8) {
        let area = area.clip(self.width, self.height);
        if area.is_empty() {
            return;
        }
        let [p0, p1, p2] = &mut self.planes;
        let s = self.strides;
        let colour = match self.format {
            CanvasFormat::Rgb => rgb,
            CanvasFormat::Bgr => [rgb[2], rgb[1], rgb[0]],
            CanvasFormat::I420 | CanvasFormat::Nv12 => rgb_to_yuv(self.yuv, rgb),
        };
        let packed = matches!(self.format, CanvasFormat::Rgb | CanvasFormat::Bgr);
        for y in area.y0..area.y1 {
            for x in area.x0..area.x1 {
                let a = alpha(x, y);
                if a == 0 {
                    continue;
                }
                if packed {
                    let o = y * s[0] + x * 3;
                    for (d, c) in p0[o..o + 3].iter_mut().zip(colour) {
                        *d = blend(*d, c, a);
                    }
                } else {
                    let d = &mut p0[y * s[0] + x];
                    *d = blend(*d, colour[0], a);
                }
            }
        }
        if packed {
            return;
        }
        for cy in area.y0 / 2..area.y1.div_ceil(2) {
            for cx in area.x0 / 2..area.x1.div_ceil(2) {
                // The mean opacity over the pixels this sample covers that lie in the frame.
                let (mut sum, mut n) = (0u32, 0u32);
                for y in 2 * cy..(2 * cy + 2).min(self.height) {
                    for x in 2 * cx..(2 * cx + 2).min(self.width) {
                        n += 1;
                        if area.contains(x, y) {
                            sum += alpha(x, y) as u32;
                        }
                    }
                }
                let a = ((sum + n / 2) / n) as u8;
                if a == 0 {
                    continue;
                }
                let (u, v) = if self.format == CanvasFormat::I420 {
                    (cy * s[1] + cx, cy * s[2] + cx)
                } else {
                    (cy * s[1] + 2 * cx, cy * s[1] + 2 * cx + 1)
                };
                p1[u] = blend(p1[u], colour[1], a);
                let v_plane: &mut [u8] = if self.format == CanvasFormat::I420 {
                    p2
                } else {
                    p1
                };
                v_plane[v] = blend(v_plane[v], colour[2], a);
            }
        }
    }

    /// Box-blurs `area` (clipped to the frame) in every plane, `radius` in luma pixels; nothing
    /// outside it changes.
    pub fn blur(&mut self, area: Rect, radius: usize) {
        let area = area.clip(self.width, self.height);
        let shapes = self.plane_shapes();
        for (plane, (rows, _, channels)) in shapes.into_iter().enumerate() {
            if rows == 0 {
                continue;
            }
            let (r, radius) = if plane == 0 {
                (area, radius)
            } else {
                (
                    area.chroma_inside(self.width, self.height),
                    radius.div_ceil(2),
                )
            };
            box_blur(self.planes[plane], self.strides[plane], channels, r, radius);
        }
    }
}

/// `src` over `dst` at opacity `a` (0–255).
fn blend(dst: u8, src: u8, a: u8) -> u8 {
    let a = a as u32;
    ((dst as u32 * (255 - a) + src as u32 * a + 127) / 255) as u8
}

/// An RGB colour as Y, U, V samples of the given matrix and range (ITU-R BT.601/709/2020).
pub fn rgb_to_yuv(colour: YuvColour, rgb: [u8; 3]) -> [u8; 3] {
    let (kr, kb) = colour.matrix.luma_weights();
    let [r, g, b] = rgb.map(|c| c as f64 / 255.0);
    let y = kr * r + (1.0 - kr - kb) * g + kb * b;
    let u = (b - y) / (2.0 * (1.0 - kb));
    let v = (r - y) / (2.0 * (1.0 - kr));
    let (y_offset, y_scale, c_scale) = colour.code_range();
    let q = |x: f64| x.round().clamp(0.0, 255.0) as u8;
    [
        q(y_offset + y_scale * y),
        q(128.0 + c_scale * u),
        q(128.0 + c_scale * v),
    ]
}

/// An RGB canvas of `width` × `height` over `data`, for tests that draw.
#[cfg(test)]
pub(crate) fn rgb_test_canvas(data: &mut [u8], width: usize, height: usize) -> Canvas<'_> {
    Canvas::new(
        CanvasFormat::Rgb,
        width,
        height,
        [data, &mut [], &mut []],
        [width * 3, 0, 0],
        YuvColour::default(),
    )
    .expect("a buffer of width × height × 3 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::YuvMatrix;

    const RED: [u8; 3] = [255, 0, 0];

    /// A `w × h` frame of `format` filled with grey (128 in every sample), its planes and strides.
    fn frame(format: CanvasFormat, w: usize, h: usize) -> (Vec<Vec<u8>>, [usize; 3]) {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        // Strides wider than a row, as GStreamer pads them, to catch stride mix-ups.
        let (planes, strides) = match format {
            CanvasFormat::Rgb | CanvasFormat::Bgr => (vec![h * (w * 3 + 4)], [w * 3 + 4, 0, 0]),
            CanvasFormat::I420 => (
                vec![h * (w + 4), ch * (cw + 4), ch * (cw + 4)],
                [w + 4, cw + 4, cw + 4],
            ),
            CanvasFormat::Nv12 => (vec![h * (w + 4), ch * (cw * 2 + 4)], [w + 4, cw * 2 + 4, 0]),
        };
        (
            planes.into_iter().map(|n| vec![128u8; n]).collect(),
            strides,
        )
    }

    fn canvas<'a>(
        format: CanvasFormat,
        w: usize,
        h: usize,
        planes: &'a mut [Vec<u8>],
        strides: [usize; 3],
    ) -> Canvas<'a> {
        let mut it = planes.iter_mut().map(|p| p.as_mut_slice());
        let p = [(); 3].map(|_| it.next().unwrap_or(&mut []));
        Canvas::new(format, w, h, p, strides, YuvColour::default()).unwrap()
    }

    #[test]
    fn colours_in_yuv() {
        let bt601 = YuvColour::default();
        assert_eq!(rgb_to_yuv(bt601, [255, 255, 255]), [235, 128, 128]);
        assert_eq!(rgb_to_yuv(bt601, [0, 0, 0]), [16, 128, 128]);
        assert_eq!(rgb_to_yuv(bt601, RED), [81, 90, 240]);
        let full = YuvColour {
            matrix: YuvMatrix::Bt601,
            full_range: true,
        };
        assert_eq!(rgb_to_yuv(full, RED), [76, 85, 255]);
        assert_eq!(rgb_to_yuv(full, [0, 0, 0]), [0, 128, 128]);
        let bt709 = YuvColour {
            matrix: YuvMatrix::Bt709,
            full_range: false,
        };
        assert_eq!(rgb_to_yuv(bt709, RED), [63, 102, 240]);
    }

    #[test]
    fn filled_rectangles_in_every_format() {
        let (w, h) = (9, 7);
        // Pixels 2..6 × 2..4: even edges, so chroma samples 1..3 × 1..2 are wholly covered.
        let area = Rect {
            x0: 2,
            y0: 2,
            x1: 6,
            y1: 4,
        };
        for format in [CanvasFormat::Rgb, CanvasFormat::Bgr] {
            let (mut planes, strides) = frame(format, w, h);
            canvas(format, w, h, &mut planes, strides).fill(area, RED);
            let px = |x: usize, y: usize| {
                let o = y * strides[0] + x * 3;
                planes[0][o..o + 3].to_vec()
            };
            let red = if format == CanvasFormat::Rgb {
                [255, 0, 0]
            } else {
                [0, 0, 255]
            };
            assert_eq!(px(2, 2), red, "{format:?}");
            assert_eq!(px(5, 3), red, "{format:?}");
            assert_eq!(px(6, 3), [128; 3], "{format:?}");
            assert_eq!(px(2, 4), [128; 3], "{format:?}");
        }
        let [y, u, v] = rgb_to_yuv(YuvColour::default(), RED);
        for format in [CanvasFormat::I420, CanvasFormat::Nv12] {
            let (mut planes, strides) = frame(format, w, h);
            canvas(format, w, h, &mut planes, strides).fill(area, RED);
            let luma = |x: usize, yy: usize| planes[0][yy * strides[0] + x];
            let chroma = |cx: usize, cy: usize| match format {
                CanvasFormat::I420 => (
                    planes[1][cy * strides[1] + cx],
                    planes[2][cy * strides[2] + cx],
                ),
                _ => (
                    planes[1][cy * strides[1] + 2 * cx],
                    planes[1][cy * strides[1] + 2 * cx + 1],
                ),
            };
            assert_eq!(luma(2, 2), y, "{format:?}");
            assert_eq!(luma(5, 3), y, "{format:?}");
            assert_eq!(luma(6, 3), 128, "{format:?}");
            assert_eq!(luma(1, 2), 128, "{format:?}");
            assert_eq!(chroma(1, 1), (u, v), "{format:?}");
            assert_eq!(chroma(2, 1), (u, v), "{format:?}");
            assert_eq!(chroma(3, 1), (128, 128), "{format:?}");
            assert_eq!(chroma(1, 0), (128, 128), "{format:?}");
        }
    }

    #[test]
    fn chroma_of_a_partly_covered_sample_is_blended() {
        let (w, h) = (8, 4);
        let (mut planes, strides) = frame(CanvasFormat::I420, w, h);
        // A one-pixel column at x = 3: chroma samples of column 1 are a quarter… half covered.
        canvas(CanvasFormat::I420, w, h, &mut planes, strides).fill(
            Rect {
                x0: 3,
                y0: 0,
                x1: 4,
                y1: 4,
            },
            [255, 255, 255],
        );
        // White's chroma is 128 like the grey: use luma for the column, then a blue fill for chroma.
        assert_eq!(planes[0][3], 235);
        assert_eq!(planes[0][2], 128);
        let (mut planes, strides) = frame(CanvasFormat::I420, w, h);
        canvas(CanvasFormat::I420, w, h, &mut planes, strides).fill(
            Rect {
                x0: 3,
                y0: 0,
                x1: 4,
                y1: 4,
            },
            [0, 0, 255],
        );
        let [_, u, _] = rgb_to_yuv(YuvColour::default(), [0, 0, 255]);
        // Half the 2×2 block is blue: U halfway between grey's 128 and blue's.
        let half = blend(128, u, 128);
        assert_eq!(planes[1][1], half);
        assert_eq!(planes[1][strides[1] + 1], half);
        assert_eq!(planes[1][0], 128);
        assert_eq!(planes[1][2], 128);
    }

    #[test]
    fn masks_blend_by_coverage() {
        let (mut planes, strides) = frame(CanvasFormat::Rgb, 4, 2);
        let mask = TextMask {
            width: 3,
            height: 1,
            coverage: vec![0, 128, 255],
        };
        canvas(CanvasFormat::Rgb, 4, 2, &mut planes, strides).draw_mask(1, 1, &mask, [0, 0, 0]);
        let o = strides[0];
        assert_eq!(&planes[0][o + 3..o + 6], &[128; 3]);
        assert_eq!(&planes[0][o + 6..o + 9], &[64; 3]);
        assert_eq!(&planes[0][o + 9..o + 12], &[0; 3]);
        // Masks past the frame's edge are clipped, not a panic.
        canvas(CanvasFormat::Rgb, 4, 2, &mut planes, strides).draw_mask(3, 1, &mask, RED);
        canvas(CanvasFormat::Rgb, 4, 2, &mut planes, strides).draw_mask(100, 100, &mask, RED);
    }

    #[test]
    fn short_planes_are_refused() {
        let mut small = vec![0u8; 10];
        let err = Canvas::new(
            CanvasFormat::I420,
            4,
            4,
            [&mut small, &mut [], &mut []],
            [4, 2, 2],
            YuvColour::default(),
        )
        .err()
        .unwrap();
        assert_eq!(err.needed, 16);
        let mut rgb = vec![0u8; 36];
        // A stride shorter than a row is refused too.
        assert!(Canvas::new(
            CanvasFormat::Rgb,
            4,
            3,
            [&mut rgb, &mut [], &mut []],
            [6, 0, 0],
            YuvColour::default()
        )
        .is_err());
    }

    #[test]
    fn blur_changes_only_the_area_in_every_plane() {
        let (w, h) = (16, 12);
        let area = Rect {
            x0: 4,
            y0: 2,
            x1: 12,
            y1: 10,
        };
        for format in [CanvasFormat::Rgb, CanvasFormat::I420, CanvasFormat::Nv12] {
            let (mut planes, strides) = frame(format, w, h);
            // Busy content in every sample (and in U apart from V).
            for p in planes.iter_mut() {
                for (i, v) in p.iter_mut().enumerate() {
                    *v = (i * 37 % 11) as u8 * 20;
                }
            }
            let before = planes.clone();
            let mut c = canvas(format, w, h, &mut planes, strides);
            let shapes = c.plane_shapes();
            c.blur(area, 3);
            for (i, (rows, cols, channels)) in shapes.into_iter().enumerate() {
                if rows == 0 {
                    continue;
                }
                let r = if i == 0 {
                    area
                } else {
                    area.chroma_inside(w, h)
                };
                let mut inside_changed = false;
                for y in 0..rows {
                    for x in 0..cols {
                        for c in 0..channels {
                            let o = y * strides[i] + x * channels + c;
                            if r.contains(x, y) {
                                inside_changed |= planes[i][o] != before[i][o];
                            } else {
                                assert_eq!(planes[i][o], before[i][o], "{format:?} plane {i}");
                            }
                        }
                    }
                }
                assert!(inside_changed, "{format:?} plane {i}");
            }
        }
    }
}
