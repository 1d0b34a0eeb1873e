//! Lines, closed outlines and arrows, for showing a rules file's counting lines and zones on the
//! frames. Coordinates are in pixels as `f64`, pixel `(x, y)` centred on the integers; they come
//! from configuration scaled to the frame, so anything (far outside, infinite, NaN) is drawn
//! clipped or not at all, never a panic and never a walk along a kilometre of invisible line.

use crate::draw::canvas::Canvas;
use crate::draw::rect::Rect;

/// Draws the segment `from`–`to` (both ends included) `thickness` pixels wide, as a square pen
/// of that side moved along it. The segment is clipped to the frame first, so the work is
/// bounded by the frame's size whatever the coordinates; a segment with a non-finite end (or
/// ends so far apart their distance overflows) draws nothing.
pub fn draw_line(
    canvas: &mut Canvas,
    from: (f64, f64),
    to: (f64, f64),
    rgb: [u8; 3],
    thickness: usize,
) {
    let (w, h) = (canvas.width(), canvas.height());
    if thickness == 0 || w == 0 || h == 0 {
        return;
    }
    // A pen this wide covers the whole frame from anywhere in it; wider only costs time.
    let pen = thickness.min(2 * w.max(h) + 1) as i64;
    // A pen centred up to `pen + 1` pixels outside the frame may still reach into it.
    let margin = (pen + 1) as f64;
    let bounds = (-margin, -margin, w as f64 + margin, h as f64 + margin);
    let Some((a, b)) = clip_segment(from, to, bounds) else {
        return;
    };
    let pixel = |(x, y): (f64, f64)| (x.round() as i64, y.round() as i64);
    stroke(canvas, pixel(a), pixel(b), pen, rgb);
}

/// Draws the closed outline through `points` (last joined back to first), for a zone.
pub fn draw_polygon(canvas: &mut Canvas, points: &[(f64, f64)], rgb: [u8; 3], thickness: usize) {
    if points.len() < 2 {
        return;
    }
    for pair in points.windows(2) {
        draw_line(canvas, pair[0], pair[1], rgb, thickness);
    }
    if points.len() > 2 {
        draw_line(canvas, points[points.len() - 1], points[0], rgb, thickness);
    }
}

/// Draws `from`–`to` with a head at `to` (two strokes at ±30° from the shaft, `max(6, 4 ×
/// thickness)` pixels long), to show which way a counting line is crossed "in". A zero-length or
/// non-finite arrow has no direction and draws nothing.
pub fn draw_arrow(
    canvas: &mut Canvas,
    from: (f64, f64),
    to: (f64, f64),
    rgb: [u8; 3],
    thickness: usize,
) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let len = dx.hypot(dy);
    if thickness == 0 || !len.is_finite() || len == 0.0 {
        return;
    }
    draw_line(canvas, from, to, rgb, thickness);
    let head = (4.0 * thickness as f64).max(6.0);
    // The shaft's direction, reversed (pointing back from the tip), turned by ±30°.
    let (bx, by) = (-dx / len, -dy / len);
    let (sin, cos) = 30f64.to_radians().sin_cos();
    for s in [sin, -sin] {
        let barb = (bx * cos - by * s, bx * s + by * cos);
        let end = (to.0 + head * barb.0, to.1 + head * barb.1);
        draw_line(canvas, to, end, rgb, thickness);
    }
}

/// The part of `a`–`b` inside `(x0, y0, x1, y1)` (Liang–Barsky), or `None` when nothing of it
/// is, or when it cannot be computed (a non-finite end or distance).
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x0, y0, x1, y1): (f64, f64, f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    if ![a.0, a.1, dx, dy].iter().all(|v| v.is_finite()) {
        return None;
    }
    let (mut enter, mut leave) = (0.0f64, 1.0f64);
    // Each edge as `p · t <= q`: the segment's parameter t where it crosses that edge.
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else if p < 0.0 {
            enter = enter.max(q / p);
        } else {
            leave = leave.min(q / p);
        }
    }
    if enter > leave {
        return None;
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    Some((at(enter), at(leave)))
}

/// Pixels `x0..x1` × `y0..y1` that may lie partly or wholly outside the frame.
#[derive(Debug, Clone, Copy)]
struct Area {
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
}

/// Moves a `pen`-wide square pixel by pixel (Bresenham) from `a` to `b`, both included. Each
/// step fills only what the previous square did not cover, so a thick line costs its area rather
/// than steps × pen².
fn stroke(canvas: &mut Canvas, a: (i64, i64), b: (i64, i64), pen: i64, rgb: [u8; 3]) {
    let square = |(x, y): (i64, i64)| {
        let (x0, y0) = (x - (pen - 1) / 2, y - (pen - 1) / 2);
        Area {
            x0,
            y0,
            x1: x0 + pen,
            y1: y0 + pen,
        }
    };
    let (dx, dy) = ((b.0 - a.0).abs(), -(b.1 - a.1).abs());
    let (sx, sy) = ((b.0 - a.0).signum(), (b.1 - a.1).signum());
    let (mut p, mut err, mut prev) = (a, dx + dy, None);
    loop {
        let now = square(p);
        fill_uncovered(canvas, now, prev, rgb);
        if p == b {
            return;
        }
        prev = Some(now);
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            p.0 += sx;
        }
        if e2 <= dx {
            err += dx;
            p.1 += sy;
        }
    }
}

/// Fills the pixels of `now` that `prev` (a square of the same size) does not cover: the
/// columns only `now` has, then the rows only `now` has within the columns both have.
fn fill_uncovered(canvas: &mut Canvas, now: Area, prev: Option<Area>, rgb: [u8; 3]) {
    let Some(prev) = prev else {
        fill_area(canvas, now, rgb);
        return;
    };
    // The part of `now`'s span [n0, n1) outside `prev`'s [p0, p1), as one span (same lengths).
    let only_now = |n0: i64, n1: i64, p0: i64, p1: i64| {
        if n0 < p0 {
            (n0, p0.min(n1))
        } else {
            (p1.max(n0), n1)
        }
    };
    let (x0, x1) = only_now(now.x0, now.x1, prev.x0, prev.x1);
    fill_area(canvas, Area { x0, x1, ..now }, rgb);
    let (y0, y1) = only_now(now.y0, now.y1, prev.y0, prev.y1);
    let (x0, x1) = (now.x0.max(prev.x0), now.x1.min(prev.x1));
    fill_area(canvas, Area { x0, y0, x1, y1 }, rgb);
}

/// Fills the part of `area` inside the frame.
fn fill_area(canvas: &mut Canvas, area: Area, rgb: [u8; 3]) {
    let (w, h) = (canvas.width() as i64, canvas.height() as i64);
    let x0 = area.x0.clamp(0, w);
    let y0 = area.y0.clamp(0, h);
    let r = Rect {
        x0: x0 as usize,
        y0: y0 as usize,
        x1: area.x1.clamp(x0, w) as usize,
        y1: area.y1.clamp(y0, h) as usize,
    };
    if !r.is_empty() {
        canvas.fill(r, rgb);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const W: usize = 40;
    const H: usize = 30;
    const RED: [u8; 3] = [255, 0, 0];
    const BLACK: [u8; 3] = [0, 0, 0];

    fn rgb_canvas(data: &mut [u8]) -> Canvas<'_> {
        crate::draw::canvas::rgb_test_canvas(data, W, H)
    }

    fn blank() -> Vec<u8> {
        vec![0u8; W * H * 3]
    }

    fn px(d: &[u8], x: usize, y: usize) -> [u8; 3] {
        let o = (y * W + x) * 3;
        [d[o], d[o + 1], d[o + 2]]
    }

    /// The coloured (non-black) pixels, row by row.
    fn coloured(d: &[u8]) -> Vec<(usize, usize)> {
        (0..H)
            .flat_map(|y| (0..W).map(move |x| (x, y)))
            .filter(|&(x, y)| px(d, x, y) != BLACK)
            .collect()
    }

    fn line(from: (f64, f64), to: (f64, f64), thickness: usize) -> Vec<u8> {
        let mut data = blank();
        draw_line(&mut rgb_canvas(&mut data), from, to, RED, thickness);
        data
    }

    #[test]
    fn horizontal_line_colours_its_row_ends_included() {
        let data = line((5.0, 10.0), (20.0, 10.0), 1);
        assert_eq!(
            coloured(&data),
            (5..=20).map(|x| (x, 10)).collect::<Vec<_>>()
        );
        // Coordinates round to the nearest pixel centre, either way round.
        assert_eq!(line((20.4, 9.6), (4.6, 10.4), 1), data);
    }

    #[test]
    fn diagonal_line_colours_its_diagonal_only() {
        let data = line((3.0, 3.0), (13.0, 13.0), 1);
        assert_eq!(
            coloured(&data),
            (3..=13).map(|i| (i, i)).collect::<Vec<_>>()
        );
        // A steep line has one pixel per row, ends included.
        let data = line((10.0, 2.0), (14.0, 22.0), 1);
        let pixels = coloured(&data);
        assert_eq!(pixels.len(), 21);
        assert_eq!((pixels[0], pixels[20]), ((10, 2), (14, 22)));
    }

    #[test]
    fn thickness_widens_the_line_and_zero_draws_nothing() {
        let data = line((5.0, 10.0), (20.0, 10.0), 3);
        let rows_9_to_11 = (9..=11).flat_map(|y| (4..=21).map(move |x| (x, y)));
        assert_eq!(coloured(&data), rows_9_to_11.collect::<Vec<_>>());
        assert!(coloured(&line((5.0, 10.0), (20.0, 10.0), 0)).is_empty());
        // A thick pen just above the frame still reaches into row 0.
        let data = line((5.0, -1.0), (20.0, -1.0), 3);
        assert_eq!(
            coloured(&data),
            (4..=21).map(|x| (x, 0)).collect::<Vec<_>>()
        );
        // A thick diagonal covers the same pixels as squares stamped at every step would.
        let data = line((5.0, 5.0), (15.0, 12.0), 4);
        let mut stamped = blank();
        let mut c = rgb_canvas(&mut stamped);
        for (x, y) in coloured(&line((5.0, 5.0), (15.0, 12.0), 1)) {
            let r = Rect {
                x0: x - 1,
                y0: y - 1,
                x1: x + 3,
                y1: y + 3,
            };
            c.fill(r, RED);
        }
        assert_eq!(data, stamped);
    }

    #[test]
    fn lines_outside_the_frame_change_nothing() {
        for (from, to) in [
            ((-10.0, -5.0), (-1.0, -20.0)),
            ((50.0, 0.0), (60.0, 29.0)),
            ((0.0, -3.0), (39.0, -3.0)),
            ((-5.0, 40.0), (50.0, 35.0)),
            ((-1e12, -1e12), (-1e12, 1e12)),
        ] {
            assert!(coloured(&line(from, to, 1)).is_empty(), "{from:?} {to:?}");
        }
        assert!(coloured(&line((0.0, -4.0), (39.0, -4.0), 5)).is_empty());
    }

    #[test]
    fn far_and_non_finite_ends_are_clipped_quickly() {
        let start = Instant::now();
        let data = line((5.0, 10.0), (1e12, 10.0), 1);
        assert_eq!(coloured(&data), (5..W).map(|x| (x, 10)).collect::<Vec<_>>());
        let data = line((-1e12, -1e12), (1e12, 1e12), 1);
        assert_eq!(coloured(&data), (0..H).map(|i| (i, i)).collect::<Vec<_>>());
        // A pen wider than the frame fills it and no more.
        let data = line((5.0, 10.0), (1e15, -1e15), usize::MAX);
        assert_eq!(coloured(&data).len(), W * H);
        // Nothing sensible to draw, but no panic either.
        for (from, to) in [
            ((f64::NAN, 5.0), (10.0, 5.0)),
            ((5.0, 5.0), (f64::INFINITY, 5.0)),
            ((f64::NEG_INFINITY, 5.0), (f64::INFINITY, 5.0)),
            ((-1e308, 5.0), (1e308, 5.0)),
        ] {
            assert!(coloured(&line(from, to, 2)).is_empty(), "{from:?} {to:?}");
            let mut data = blank();
            let mut c = rgb_canvas(&mut data);
            draw_arrow(&mut c, from, to, RED, 2);
            draw_polygon(&mut c, &[from, to, (3.0, 3.0)], RED, 2);
        }
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn polygon_outline_closes_and_leaves_the_inside() {
        let mut data = blank();
        let square = [(5.0, 5.0), (20.0, 5.0), (20.0, 20.0), (5.0, 20.0)];
        draw_polygon(&mut rgb_canvas(&mut data), &square, RED, 1);
        for (x, y) in [(12, 5), (20, 12), (12, 20), (5, 12), (5, 5), (20, 20)] {
            assert_eq!(px(&data, x, y), RED, "({x}, {y})");
        }
        assert_eq!(px(&data, 12, 12), BLACK);
        assert_eq!(px(&data, 6, 6), BLACK);
        assert_eq!(coloured(&data).len(), 4 * 15);
        // One point has no outline; two are a single segment.
        draw_polygon(&mut rgb_canvas(&mut data), &[(30.0, 25.0)], RED, 1);
        assert_eq!(px(&data, 30, 25), BLACK);
        let mut two = blank();
        draw_polygon(&mut rgb_canvas(&mut two), &[(3.0, 2.0), (9.0, 2.0)], RED, 1);
        assert_eq!(two, line((3.0, 2.0), (9.0, 2.0), 1));
    }

    #[test]
    fn arrow_has_a_head_at_its_tip_only() {
        let mut data = blank();
        draw_arrow(
            &mut rgb_canvas(&mut data),
            (5.0, 15.0),
            (30.0, 15.0),
            RED,
            1,
        );
        // The shaft, then barbs 6 px long at ±30° back from the tip: ends near (24.8, 15 ∓ 3).
        assert_eq!(px(&data, 5, 15), RED);
        assert_eq!(px(&data, 30, 15), RED);
        assert_eq!(px(&data, 25, 12), RED);
        assert_eq!(px(&data, 25, 18), RED);
        assert_eq!(px(&data, 28, 14), RED);
        assert_eq!(px(&data, 28, 16), RED);
        assert_eq!(px(&data, 31, 15), BLACK);
        assert_eq!(px(&data, 24, 11), BLACK);
        // No head at the tail.
        assert_eq!(px(&data, 9, 14), BLACK);
        assert_eq!(px(&data, 9, 16), BLACK);
        // A thick arrow's head grows with it (4 × 3 = 12 px barbs).
        let mut thick = blank();
        draw_arrow(
            &mut rgb_canvas(&mut thick),
            (5.0, 15.0),
            (30.0, 15.0),
            RED,
            3,
        );
        assert_eq!(px(&thick, 20, 9), RED);
        assert_eq!(px(&data, 20, 9), BLACK);
        // A point has no direction.
        let mut dot = blank();
        draw_arrow(&mut rgb_canvas(&mut dot), (7.0, 7.0), (7.0, 7.0), RED, 2);
        assert!(coloured(&dot).is_empty());
    }
}
