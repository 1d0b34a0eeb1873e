//! Privacy blur of one image plane: a box filter run three times (close to a Gaussian, so no
//! blocky ghost of the face is left), in place, reading only samples inside the rectangle so
//! that nothing outside it bleeds in or changes.

use crate::draw::rect::Rect;

const PASSES: usize = 3;

/// Blurs the pixels `r` of a plane (`stride` bytes per row, `channels` interleaved samples per
/// pixel, each blurred on its own) with a box `2 * radius + 1` wide. A rectangle
/// reaching past the plane's data is left alone.
pub fn box_blur(plane: &mut [u8], stride: usize, channels: usize, r: Rect, radius: usize) {
    if r.is_empty() || radius == 0 || channels == 0 {
        return;
    }
    let last = (r.y1 - 1) * stride + r.x1 * channels;
    if last > plane.len() || r.x1 * channels > stride {
        return;
    }
    let (w, h) = (r.width(), r.height());
    let mut line = Vec::with_capacity(w.max(h));
    for _ in 0..PASSES {
        for y in r.y0..r.y1 {
            for c in 0..channels {
                let start = y * stride + r.x0 * channels + c;
                blur_line(plane, start, channels, w, radius, &mut line);
            }
        }
        for x in r.x0..r.x1 {
            for c in 0..channels {
                let start = r.y0 * stride + x * channels + c;
                blur_line(plane, start, stride, h, radius, &mut line);
            }
        }
    }
}

/// Box-filters the `len` samples `step` apart from `start`, with a running sum (the cost does
/// not grow with the radius).
fn blur_line(
    plane: &mut [u8],
    start: usize,
    step: usize,
    len: usize,
    radius: usize,
    line: &mut Vec<u8>,
) {
    line.clear();
    line.extend((0..len).map(|i| plane[start + i * step]));
    // Mirrored at the ends (not repeated), so an edge sample does not weigh more than others.
    let n = len as isize;
    let at = |i: isize| {
        let mirrored = if i < 0 {
            -i
        } else if i >= n {
            2 * (n - 1) - i
        } else {
            i
        };
        line[mirrored.clamp(0, n - 1) as usize] as u32
    };
    let r = radius as isize;
    let width = 2 * radius as u32 + 1;
    let mut sum: u32 = (-r..=r).map(at).sum();
    for i in 0..n {
        plane[start + i as usize * step] = ((sum + width / 2) / width) as u8;
        sum = sum + at(i + r + 1) - at(i - r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_become_flat_and_the_outside_stays() {
        // 12×6 grey plane, 2 samples per pixel, vertical stripes 0/250 inside columns 2..10.
        let (w, h, ch) = (12usize, 6usize, 2usize);
        let stride = w * ch + 3;
        let mut plane = vec![77u8; stride * h];
        let r = Rect {
            x0: 2,
            y0: 1,
            x1: 10,
            y1: 5,
        };
        for y in r.y0..r.y1 {
            for x in r.x0..r.x1 {
                for c in 0..ch {
                    plane[y * stride + x * ch + c] = if x % 2 == 0 { 0 } else { 250 };
                }
            }
        }
        let before = plane.clone();
        box_blur(&mut plane, stride, ch, r, 3);
        for y in 0..h {
            for x in 0..w {
                for c in 0..ch {
                    let (o, v) = (y * stride + x * ch + c, plane[y * stride + x * ch + c]);
                    if (r.x0..r.x1).contains(&x) && (r.y0..r.y1).contains(&y) {
                        // Only the stripes' mean (125) is left, give or take rounding.
                        assert!((120..=130).contains(&v), "({x},{y}) = {v}");
                    } else {
                        assert_eq!(v, before[o], "outside ({x},{y}) changed");
                    }
                }
            }
        }
        // The padding after each row is untouched.
        assert!(plane[w * ch..stride].iter().all(|&v| v == 77));
    }

    #[test]
    fn flat_areas_stay_flat_and_bad_rectangles_are_ignored() {
        let mut plane = vec![90u8; 8 * 8];
        let all = Rect {
            x0: 0,
            y0: 0,
            x1: 8,
            y1: 8,
        };
        box_blur(&mut plane, 8, 1, all, 20);
        assert!(plane.iter().all(|&v| v == 90));
        plane[0] = 0;
        let beyond = Rect {
            x0: 4,
            y0: 4,
            x1: 9,
            y1: 9,
        };
        box_blur(&mut plane, 8, 1, beyond, 2);
        box_blur(&mut plane, 8, 1, Rect::default(), 2);
        box_blur(&mut plane, 8, 1, all, 0);
        assert_eq!(plane[0], 0);
        assert!(plane[1..].iter().all(|&v| v == 90));
    }
}
