//! The cell grids of anchor-free detectors (RTMDet, YOLOX): each output level is a map of
//! `w × h` cells, each cell `stride` input pixels wide, predicting relative to its corner.

/// The strides of the three output levels of RTMDet and YOLOX, finest first.
pub(super) const STRIDES: [usize; 3] = [8, 16, 32];

/// One output level: a `w × h` grid of cells of `stride` input pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GridLevel {
    pub stride: usize,
    pub w: usize,
    pub h: usize,
}

impl GridLevel {
    /// The level whose `w × h` map covers a `in_w × in_h` input, when it divides it evenly.
    pub fn of_map((in_w, in_h): (usize, usize), w: usize, h: usize) -> Option<GridLevel> {
        if w == 0 || h == 0 || in_w % w != 0 || in_h % h != 0 || in_w / w != in_h / h {
            return None;
        }
        Some(GridLevel {
            stride: in_w / w,
            w,
            h,
        })
    }

    /// The levels of `strides` over a `in_w × in_h` input, when every stride divides it.
    pub fn for_input((in_w, in_h): (usize, usize), strides: &[usize]) -> Option<Vec<GridLevel>> {
        strides
            .iter()
            .map(|&s| {
                (s > 0 && in_w % s == 0 && in_h % s == 0).then_some(GridLevel {
                    stride: s,
                    w: in_w / s,
                    h: in_h / s,
                })
            })
            .collect()
    }

    pub fn cells(&self) -> usize {
        self.w * self.h
    }

    /// The corner of cell `i` (row-major) in input pixels.
    pub fn origin(&self, i: usize) -> (f32, f32) {
        (
            ((i % self.w) * self.stride) as f32,
            ((i / self.w) * self.stride) as f32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_an_input_and_of_a_map() {
        let levels = GridLevel::for_input((416, 416), &STRIDES).unwrap();
        let cells: Vec<usize> = levels.iter().map(GridLevel::cells).collect();
        assert_eq!(cells, vec![52 * 52, 26 * 26, 13 * 13]);
        assert_eq!(cells.iter().sum::<usize>(), 3549);
        assert_eq!(GridLevel::for_input((416, 420), &STRIDES), None);
        let l = GridLevel::of_map((64, 32), 8, 4).unwrap();
        assert_eq!((l.stride, l.origin(9)), (8, (8.0, 8.0)));
        assert_eq!(GridLevel::of_map((64, 32), 8, 8), None);
        assert_eq!(GridLevel::of_map((64, 64), 0, 0), None);
    }
}
