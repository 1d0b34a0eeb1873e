//! Face alignment: the similarity transform (scale, rotation, shift) that best maps five
//! detected landmarks onto the standard ArcFace 112×112 template, the warp that applies it,
//! and a sharpness measure for enrolment.

/// Eye centres, nose tip and mouth corners of the ArcFace 112×112 template.
pub const TEMPLATE_112: [(f32, f32); 5] = [
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
];
pub const ALIGNED_SIZE: usize = 112;

/// `dst = [a −b; b a] · src + (tx, ty)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub fn apply(&self, (x, y): (f32, f32)) -> (f32, f32) {
        (
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        )
    }

    /// The inverse map (`None` for a degenerate transform).
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if d <= f32::EPSILON || !d.is_finite() {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        Some(Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }
}

/// Least-squares similarity from `src` to `dst` (no reflection); `None` when the source points
/// coincide.
pub fn estimate(src: &[(f32, f32); 5], dst: &[(f32, f32); 5]) -> Option<Similarity> {
    let mean = |p: &[(f32, f32); 5]| {
        let (sx, sy) = p
            .iter()
            .fold((0.0, 0.0), |(ax, ay), (x, y)| (ax + x, ay + y));
        (sx / 5.0, sy / 5.0)
    };
    let (ms, md) = (mean(src), mean(dst));
    let (mut num_a, mut num_b, mut den) = (0.0f32, 0.0f32, 0.0f32);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s.0 - ms.0, s.1 - ms.1);
        let (dx, dy) = (d.0 - md.0, d.1 - md.1);
        num_a += sx * dx + sy * dy;
        num_b += sx * dy - sy * dx;
        den += sx * sx + sy * sy;
    }
    if den <= f32::EPSILON || !den.is_finite() {
        return None;
    }
    let (a, b) = (num_a / den, num_b / den);
    Some(Similarity {
        a,
        b,
        tx: md.0 - (a * ms.0 - b * ms.1),
        ty: md.1 - (b * ms.0 + a * ms.1),
    })
}

/// A tightly packed RGB image.
#[derive(Debug, Clone, Copy)]
pub struct RgbView<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [u8],
}

/// Fills `out` (`out_size × out_size` RGB) with `src` seen through `to_out` (source → output
/// coordinates), bilinear, black outside the source.
pub fn warp(src: &RgbView, to_out: &Similarity, out_size: usize, out: &mut [u8]) -> bool {
    let Some(inv) = to_out.inverse() else {
        return false;
    };
    let (w, h) = (src.width as isize, src.height as isize);
    let px = |x: isize, y: isize, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            0.0
        } else {
            src.data[(y as usize * src.width + x as usize) * 3 + c] as f32
        }
    };
    for oy in 0..out_size {
        for ox in 0..out_size {
            // Pixel centres map to pixel centres.
            let (sx, sy) = inv.apply((ox as f32 + 0.5, oy as f32 + 0.5));
            let (fx, fy) = (sx - 0.5, sy - 0.5);
            let (x0, y0) = (fx.floor() as isize, fy.floor() as isize);
            let (wx, wy) = (fx - x0 as f32, fy - y0 as f32);
            for c in 0..3 {
                let top = px(x0, y0, c) * (1.0 - wx) + px(x0 + 1, y0, c) * wx;
                let bottom = px(x0, y0 + 1, c) * (1.0 - wx) + px(x0 + 1, y0 + 1, c) * wx;
                out[(oy * out_size + ox) * 3 + c] =
                    (top * (1.0 - wy) + bottom * wy).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    true
}

/// Variance of the 4-neighbour Laplacian of the image's luma: low for a blurred face.
pub fn sharpness(src: &RgbView) -> f32 {
    let (w, h) = (src.width, src.height);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let luma: Vec<f32> = src
        .data
        .chunks_exact(3)
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect();
    let mut sum = 0f64;
    let mut sum2 = 0f64;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let l = (luma[i - 1] + luma[i + 1] + luma[i - w] + luma[i + w] - 4.0 * luma[i]) as f64;
            sum += l;
            sum2 += l * l;
        }
    }
    let n = ((w - 2) * (h - 2)) as f64;
    (sum2 / n - (sum / n).powi(2)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn estimate_recovers_scale_rotation_and_shift() {
        // The template scaled by 2 and moved by (10, 20): mapping back halves and shifts.
        let src = TEMPLATE_112.map(|(x, y)| (2.0 * x + 10.0, 2.0 * y + 20.0));
        let m = estimate(&src, &TEMPLATE_112).unwrap();
        assert!(close(m.a, 0.5) && close(m.b, 0.0), "{m:?}");
        assert!(close(m.tx, -5.0) && close(m.ty, -10.0), "{m:?}");
        // Rotated by 90° (x, y) -> (-y, x): the estimate rotates back.
        let src = TEMPLATE_112.map(|(x, y)| (-y, x));
        let m = estimate(&src, &TEMPLATE_112).unwrap();
        assert!(close(m.a, 0.0) && close(m.b, -1.0), "{m:?}");
        for (s, d) in src.iter().zip(TEMPLATE_112) {
            let p = m.apply(*s);
            assert!(close(p.0, d.0) && close(p.1, d.1));
        }
        let inv = m.inverse().unwrap();
        let back = inv.apply(m.apply((3.0, 4.0)));
        assert!(close(back.0, 3.0) && close(back.1, 4.0));
        assert!(estimate(&[(1.0, 1.0); 5], &TEMPLATE_112).is_none());
    }

    #[test]
    fn warp_by_identity_and_by_a_shift() {
        let data: Vec<u8> = (0..16u8).flat_map(|v| [v * 10, v, 255 - v]).collect();
        let src = RgbView {
            width: 4,
            height: 4,
            data: &data,
        };
        let mut out = vec![0u8; 4 * 4 * 3];
        let id = Similarity {
            a: 1.0,
            b: 0.0,
            tx: 0.0,
            ty: 0.0,
        };
        assert!(warp(&src, &id, 4, &mut out));
        assert_eq!(out, data);
        // Source moved one pixel right: output column 0 is black, column 1 is source column 0.
        let shift = Similarity { tx: 1.0, ..id };
        warp(&src, &shift, 4, &mut out);
        assert_eq!(&out[0..3], &[0, 0, 0]);
        assert_eq!(&out[3..6], &data[0..3]);
        assert_eq!(&out[12..15], &[0, 0, 0]);
        assert!(!warp(&src, &Similarity { a: 0.0, ..id }, 4, &mut out));
    }

    #[test]
    fn sharpness_of_flat_and_checkerboard() {
        let flat = vec![90u8; 8 * 8 * 3];
        let v = RgbView {
            width: 8,
            height: 8,
            data: &flat,
        };
        assert_eq!(sharpness(&v), 0.0);
        let board: Vec<u8> = (0..64)
            .flat_map(|i| {
                let on = (i % 8 + i / 8) % 2 == 0;
                [if on { 255 } else { 0 }; 3]
            })
            .collect();
        let v = RgbView {
            width: 8,
            height: 8,
            data: &board,
        };
        // Every interior Laplacian is ±4·255 (luma weights sum to 1), mean 0.
        let want = (4.0f32 * 255.0).powi(2);
        assert!(
            (sharpness(&v) - want).abs() / want < 1e-3,
            "{}",
            sharpness(&v)
        );
    }
}
