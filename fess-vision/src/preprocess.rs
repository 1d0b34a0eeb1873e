//! Frame → input tensor: scale (stretch or letterbox), colour conversion, normalisation and
//! layout in one pass, written for speed and allocation-free per frame after the first.
//!
//! Sampling is bilinear with 8-bit fixed-point weights from tables built once per
//! (frame size, model input) pair; normalisation is a 256-entry table per channel.

use crate::geometry::BBox;

/// Pixel formats the preprocessor reads directly, so no `videoconvert` is needed in front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb,
    Bgr,
    Rgbx,
    Bgrx,
    Xrgb,
    Xbgr,
    Rgba,
    Bgra,
    Argb,
    Abgr,
    I420,
    Yv12,
    Nv12,
    Nv21,
    Gray8,
}

impl PixelFormat {
    /// Byte offsets of R, G, B and the bytes per pixel of a packed format.
    fn packed(self) -> Option<([usize; 3], usize)> {
        Some(match self {
            PixelFormat::Rgb => ([0, 1, 2], 3),
            PixelFormat::Bgr => ([2, 1, 0], 3),
            PixelFormat::Rgbx | PixelFormat::Rgba => ([0, 1, 2], 4),
            PixelFormat::Bgrx | PixelFormat::Bgra => ([2, 1, 0], 4),
            PixelFormat::Xrgb | PixelFormat::Argb => ([1, 2, 3], 4),
            PixelFormat::Xbgr | PixelFormat::Abgr => ([3, 2, 1], 4),
            _ => return None,
        })
    }
}

/// A borrowed, mapped video frame: up to three planes with their strides.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: [&'a [u8]; 3],
    pub strides: [usize; 3],
    /// How YUV formats map to RGB (ignored for RGB and grey).
    pub yuv: YuvColour,
}

/// A frame whose pixels can be read later: a video buffer in the elements, a plain image in
/// tests.
pub trait Pixels {
    type Error;
    /// Calls `f` with a view of the pixels.
    fn read<R>(&self, f: impl FnOnce(&FrameView<'_>) -> R) -> Result<R, Self::Error>;
}

impl<'a> FrameView<'a> {
    /// The part of the frame at (`x`, `y`) of `width × height` pixels, moved to even
    /// coordinates (chroma planes are subsampled by two) and clipped to the frame; `None`
    /// when nothing is left.
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Option<FrameView<'a>> {
        let (x, y) = (x & !1, y & !1);
        if x >= self.width || y >= self.height {
            return None;
        }
        let (width, height) = (width.min(self.width - x), height.min(self.height - y));
        if width == 0 || height == 0 {
            return None;
        }
        let s = self.strides;
        let offsets = match self.format.packed() {
            Some((_, bpp)) => [y * s[0] + x * bpp, 0, 0],
            None => match self.format {
                PixelFormat::I420 | PixelFormat::Yv12 => {
                    [y * s[0] + x, y / 2 * s[1] + x / 2, y / 2 * s[2] + x / 2]
                }
                // Interleaved chroma: two bytes per two luma columns.
                PixelFormat::Nv12 | PixelFormat::Nv21 => [y * s[0] + x, y / 2 * s[1] + x, 0],
                _ => [y * s[0] + x, 0, 0],
            },
        };
        let mut planes = self.planes;
        for (p, off) in planes.iter_mut().zip(offsets) {
            if !p.is_empty() {
                *p = p.get(off..)?;
            }
        }
        Some(FrameView {
            planes,
            width,
            height,
            ..*self
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    F32,
    U8,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resize {
    /// Scale each axis independently to fill the input.
    Stretch,
    /// Keep the aspect ratio, image at the top-left, the rest filled with `pad` (0–255, per channel).
    Letterbox { pad: u8 },
}

/// What a model wants as input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub width: usize,
    pub height: usize,
    pub layout: Layout,
    pub element_type: ElementType,
    pub order: ChannelOrder,
    /// Per channel of `order`: value = (pixel − mean) / std. Ignored for `U8` input.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub resize: Resize,
}

impl InputSpec {
    /// Plain RGB bytes, stretched to `width × height`: a resized copy of the picture.
    pub fn rgb8(width: usize, height: usize) -> Self {
        InputSpec {
            width,
            height,
            layout: Layout::Nhwc,
            element_type: ElementType::U8,
            order: ChannelOrder::Rgb,
            mean: [0.0; 3],
            std: [1.0; 3],
            resize: Resize::Stretch,
        }
    }
}

/// Maps boxes from model-input pixels back to normalised 0–1 frame coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputTransform {
    /// Input pixels per frame pixel, per axis.
    pub scale_x: f32,
    pub scale_y: f32,
    pub frame_width: f32,
    pub frame_height: f32,
}

impl InputTransform {
    pub fn to_frame(&self, b: &BBox) -> BBox {
        BBox::new(
            b.x1 / self.scale_x / self.frame_width,
            b.y1 / self.scale_y / self.frame_height,
            b.x2 / self.scale_x / self.frame_width,
            b.y2 / self.scale_y / self.frame_height,
        )
        .clamp(1.0, 1.0)
    }
}

/// The tensor written by [`Preprocessor::run`].
#[derive(Debug, Clone)]
pub enum TensorBuffer {
    F32(Vec<f32>),
    U8(Vec<u8>),
}

/// Sample positions along one axis: two source indices and the weight of the second (0–256).
#[derive(Debug, Clone)]
struct AxisTable {
    i0: Vec<u32>,
    i1: Vec<u32>,
    w1: Vec<u16>,
}

impl AxisTable {
    fn new(src_len: usize, dst_len: usize) -> Self {
        let scale = src_len as f32 / dst_len as f32;
        let mut t = AxisTable {
            i0: Vec::with_capacity(dst_len),
            i1: Vec::with_capacity(dst_len),
            w1: Vec::with_capacity(dst_len),
        };
        let last = src_len.saturating_sub(1) as f32;
        for d in 0..dst_len {
            // Pixel centres aligned, as OpenCV and most training pipelines resize.
            let s = ((d as f32 + 0.5) * scale - 0.5).clamp(0.0, last);
            let i0 = s.floor();
            let frac = s - i0;
            t.i0.push(i0 as u32);
            t.i1.push((i0 as u32 + 1).min(last as u32));
            t.w1.push((frac * 256.0).round() as u16);
        }
        t
    }
}

pub struct Preprocessor {
    spec: InputSpec,
    frame_width: usize,
    frame_height: usize,
    content_height: usize,
    tables: Tables,
    transform: InputTransform,
    tensor: TensorBuffer,
    /// Tensors to fill while earlier ones are being inferred on other threads.
    spare: Vec<TensorBuffer>,
    /// One per worker: the calling thread and one helper thread each fill half the rows.
    scratch: [Scratch; 2],
    /// Whether big inputs are filled by two threads (see [`Preprocessor::set_parallel`]).
    parallel: bool,
}

/// Everything fixed per (frame size, model input): read by both workers.
struct Tables {
    xs: AxisTable,
    ys: AxisTable,
    /// The same positions on the half-resolution chroma planes.
    cxs: AxisTable,
    cys: AxisTable,
    /// Per tensor channel: value = (pixel − mean) / std.
    mean: [f32; 3],
    std: [f32; 3],
    /// Which RGB byte feeds each tensor channel.
    order: [usize; 3],
    /// Tensor row width and the part of it the picture fills.
    width: usize,
    content_width: usize,
}

/// Per-row work space, sized once.
struct Scratch {
    /// Two source rows blended vertically (luma, or packed bytes), still scaled by 256.
    rows: Vec<u16>,
    chroma_u: Vec<u16>,
    chroma_v: Vec<u16>,
    /// One output row, a plane per tensor channel (0–255); Y, U, V before conversion.
    channels: [Vec<u8>; 3],
}

/// The tensor rows one worker writes: per channel for NCHW, interleaved for NHWC.
enum RowsOut<'a> {
    F32Nhwc(&'a mut [f32]),
    F32Nchw([&'a mut [f32]; 3]),
    U8Nhwc(&'a mut [u8]),
    U8Nchw([&'a mut [u8]; 3]),
}

/// Below this many output rows one thread does it all (a thread costs more than it saves).
const PARALLEL_MIN_ROWS: usize = 128;

impl Preprocessor {
    /// Builds the tables for frames of `frame_width × frame_height`.
    pub fn new(spec: InputSpec, frame_width: usize, frame_height: usize) -> Self {
        let (cw, ch) = match spec.resize {
            Resize::Stretch => (spec.width, spec.height),
            Resize::Letterbox { .. } => {
                let s = (spec.width as f32 / frame_width as f32)
                    .min(spec.height as f32 / frame_height as f32);
                (
                    ((frame_width as f32 * s).round() as usize).clamp(1, spec.width),
                    ((frame_height as f32 * s).round() as usize).clamp(1, spec.height),
                )
            }
        };
        let len = spec.width * spec.height * 3;
        let pad = match spec.resize {
            Resize::Letterbox { pad } => pad,
            Resize::Stretch => 0,
        };
        let tensor = match spec.element_type {
            ElementType::F32 => {
                let mut v = vec![0f32; len];
                // The padding never changes: fill it once.
                for (i, out) in v.iter_mut().enumerate() {
                    let c = match spec.layout {
                        Layout::Nchw => i / (spec.width * spec.height),
                        Layout::Nhwc => i % 3,
                    };
                    *out = normalise(pad, spec.mean[c], spec.std[c]);
                }
                TensorBuffer::F32(v)
            }
            ElementType::U8 => TensorBuffer::U8(vec![pad; len]),
        };
        let chroma_w = frame_width.div_ceil(2);
        let chroma_h = frame_height.div_ceil(2);
        let scratch = || Scratch {
            rows: vec![0; frame_width * 4],
            chroma_u: vec![0; chroma_w],
            chroma_v: vec![0; chroma_w],
            channels: [vec![0; cw], vec![0; cw], vec![0; cw]],
        };
        Preprocessor {
            transform: InputTransform {
                scale_x: cw as f32 / frame_width as f32,
                scale_y: ch as f32 / frame_height as f32,
                frame_width: frame_width as f32,
                frame_height: frame_height as f32,
            },
            tables: Tables {
                xs: AxisTable::new(frame_width, cw),
                ys: AxisTable::new(frame_height, ch),
                cxs: AxisTable::new(chroma_w, cw),
                cys: AxisTable::new(chroma_h, ch),
                mean: spec.mean,
                std: spec.std,
                order: match spec.order {
                    ChannelOrder::Rgb => [0, 1, 2],
                    ChannelOrder::Bgr => [2, 1, 0],
                },
                width: spec.width,
                content_width: cw,
            },
            scratch: [scratch(), scratch()],
            content_height: ch,
            frame_width,
            frame_height,
            spec,
            tensor,
            spare: Vec::new(),
            parallel: true,
        }
    }

    /// Whether big inputs are split between the calling thread and a helper (the default). Off
    /// when the model runs on other threads meanwhile: a helper would only take cores from it.
    pub fn set_parallel(&mut self, parallel: bool) {
        self.parallel = parallel;
    }

    pub fn spec(&self) -> &InputSpec {
        &self.spec
    }

    pub fn transform(&self) -> InputTransform {
        self.transform
    }

    pub fn tensor(&self) -> &TensorBuffer {
        &self.tensor
    }

    /// Takes the filled tensor (to be inferred on another thread), leaving a spare in its
    /// place for the next frame.
    pub fn take_tensor(&mut self) -> TensorBuffer {
        let spare = self.spare.pop().unwrap_or_else(|| self.tensor.clone());
        std::mem::replace(&mut self.tensor, spare)
    }

    /// Gives back a tensor from [`Preprocessor::take_tensor`] of this preprocessor, for reuse
    /// (its padding is this frame size's).
    pub fn recycle(&mut self, tensor: TensorBuffer) {
        self.spare.push(tensor);
    }

    /// `[1, C, H, W]` or `[1, H, W, C]` as the model wants it.
    pub fn tensor_shape(&self) -> [i64; 4] {
        let (w, h) = (self.spec.width as i64, self.spec.height as i64);
        match self.spec.layout {
            Layout::Nchw => [1, 3, h, w],
            Layout::Nhwc => [1, h, w, 3],
        }
    }

    /// True when this preprocessor was built for frames of this size.
    pub fn fits(&self, width: usize, height: usize) -> bool {
        self.frame_width == width && self.frame_height == height
    }

    /// Fills the tensor from `frame`, which must have the size given to [`Preprocessor::new`].
    ///
    /// Row by row: the two source rows are blended vertically over their whole width (a loop
    /// the compiler vectorises), then each output pixel blends two neighbours of that row. YUV
    /// is interpolated before the conversion to RGB, so one conversion per output pixel. Big
    /// inputs are split in two halves filled in parallel: the model's threads are idle meanwhile.
    pub fn run(&mut self, frame: &FrameView) {
        debug_assert!(self.fits(frame.width, frame.height));
        let ch = self.content_height;
        let mid = if self.parallel && ch >= PARALLEL_MIN_ROWS {
            ch / 2
        } else {
            ch
        };
        let plane = self.spec.width * self.spec.height;
        let row_len = self.spec.width;
        let (top, bottom) = match &mut self.tensor {
            TensorBuffer::F32(t) => match self.spec.layout {
                Layout::Nhwc => {
                    let (a, b) = t[..ch * row_len * 3].split_at_mut(mid * row_len * 3);
                    (RowsOut::F32Nhwc(a), RowsOut::F32Nhwc(b))
                }
                Layout::Nchw => {
                    let [a, b] = split_planes(t, plane, row_len, ch, mid);
                    (RowsOut::F32Nchw(a), RowsOut::F32Nchw(b))
                }
            },
            TensorBuffer::U8(t) => match self.spec.layout {
                Layout::Nhwc => {
                    let (a, b) = t[..ch * row_len * 3].split_at_mut(mid * row_len * 3);
                    (RowsOut::U8Nhwc(a), RowsOut::U8Nhwc(b))
                }
                Layout::Nchw => {
                    let [a, b] = split_planes(t, plane, row_len, ch, mid);
                    (RowsOut::U8Nchw(a), RowsOut::U8Nchw(b))
                }
            },
        };
        let tables = &self.tables;
        let [s0, s1] = &mut self.scratch;
        if mid == ch {
            fill_rows(tables, frame, 0..ch, top, s0);
        } else {
            std::thread::scope(|scope| {
                scope.spawn(|| fill_rows(tables, frame, mid..ch, bottom, s1));
                fill_rows(tables, frame, 0..mid, top, s0);
            });
        }
    }
}

/// Each channel plane's first `ch` rows, split at row `mid`: `[top planes, bottom planes]`.
fn split_planes<T>(
    t: &mut [T],
    plane: usize,
    row_len: usize,
    ch: usize,
    mid: usize,
) -> [[&mut [T]; 3]; 2] {
    let (p0, rest) = t.split_at_mut(plane);
    let (p1, p2) = rest.split_at_mut(plane);
    let (a0, b0) = p0[..ch * row_len].split_at_mut(mid * row_len);
    let (a1, b1) = p1[..ch * row_len].split_at_mut(mid * row_len);
    let (a2, b2) = p2[..ch * row_len].split_at_mut(mid * row_len);
    [[a0, a1, a2], [b0, b1, b2]]
}

/// Fills output rows `rows` into `out` (whose first row is `rows.start`), with the AVX2
/// instruction set where the CPU has it: the same code, compiled twice.
fn fill_rows(
    t: &Tables,
    frame: &FrameView,
    rows: std::ops::Range<usize>,
    out: RowsOut,
    sc: &mut Scratch,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { fill_rows_avx2(t, frame, rows, out, sc) };
    }
    fill_rows_portable(t, frame, rows, out, sc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_rows_avx2(
    t: &Tables,
    frame: &FrameView,
    rows: std::ops::Range<usize>,
    out: RowsOut,
    sc: &mut Scratch,
) {
    fill_rows_portable(t, frame, rows, out, sc)
}

#[inline(always)]
fn fill_rows_portable(
    t: &Tables,
    frame: &FrameView,
    rows: std::ops::Range<usize>,
    mut out: RowsOut,
    sc: &mut Scratch,
) {
    let first = rows.start;
    // Once per frame, not per row.
    let yuv = frame.yuv.coefficients();
    for oy in rows {
        row_channels(t, frame, &yuv, oy, sc);
        emit_row(t, &sc.channels, oy - first, &mut out);
    }
}

/// Fills `sc.channels` with output row `oy`, in the tensor's channel order. Each loop does one
/// thing over a whole row, so the compiler vectorises all but the sampling.
#[inline(always)]
fn row_channels(t: &Tables, frame: &FrameView, k: &YuvCoefficients, oy: usize, sc: &mut Scratch) {
    let (y0, y1, wy) = (t.ys.i0[oy] as usize, t.ys.i1[oy] as usize, t.ys.w1[oy]);
    let xs = &t.xs;
    let cw = t.content_width;
    let [c0, c1, c2] = &mut sc.channels;
    let (c0, c1, c2) = (&mut c0[..cw], &mut c1[..cw], &mut c2[..cw]);
    if let Some((off, bpp)) = frame.format.packed() {
        let n = frame.width * bpp;
        let row = |y: usize| &frame.planes[0][y * frame.strides[0]..y * frame.strides[0] + n];
        blend_rows(row(y0), row(y1), wy, &mut sc.rows[..n]);
        let src = t.order.map(|k| off[k]);
        let rows = &sc.rows[..n];
        for (ox, ((o0, o1), o2)) in c0
            .iter_mut()
            .zip(c1.iter_mut())
            .zip(c2.iter_mut())
            .enumerate()
        {
            let (a, b, w) = (
                xs.i0[ox] as usize * bpp,
                xs.i1[ox] as usize * bpp,
                xs.w1[ox],
            );
            *o0 = blend_pair(rows[a + src[0]], rows[b + src[0]], w);
            *o1 = blend_pair(rows[a + src[1]], rows[b + src[1]], w);
            *o2 = blend_pair(rows[a + src[2]], rows[b + src[2]], w);
        }
        return;
    }
    let n = frame.width;
    let luma = |y: usize| &frame.planes[0][y * frame.strides[0]..y * frame.strides[0] + n];
    blend_rows(luma(y0), luma(y1), wy, &mut sc.rows[..n]);
    let rows = &sc.rows[..n];
    for (ox, o) in c0.iter_mut().enumerate() {
        *o = blend_pair(
            rows[xs.i0[ox] as usize],
            rows[xs.i1[ox] as usize],
            xs.w1[ox],
        );
    }
    if frame.format == PixelFormat::Gray8 {
        c1.copy_from_slice(c0);
        c2.copy_from_slice(c0);
        return;
    }
    let (cy0, cy1, cwy) = (t.cys.i0[oy] as usize, t.cys.i1[oy] as usize, t.cys.w1[oy]);
    let cn = frame.width.div_ceil(2);
    let (cu, cv) = (&mut sc.chroma_u[..cn], &mut sc.chroma_v[..cn]);
    match frame.format {
        PixelFormat::I420 | PixelFormat::Yv12 => {
            let (u, v) = if frame.format == PixelFormat::I420 {
                (1, 2)
            } else {
                (2, 1)
            };
            let plane = |p: usize, y: usize| {
                &frame.planes[p][y * frame.strides[p]..y * frame.strides[p] + cn]
            };
            blend_rows(plane(u, cy0), plane(u, cy1), cwy, cu);
            blend_rows(plane(v, cy0), plane(v, cy1), cwy, cv);
        }
        PixelFormat::Nv12 | PixelFormat::Nv21 => {
            let row =
                |y: usize| &frame.planes[1][y * frame.strides[1]..y * frame.strides[1] + cn * 2];
            let (r0, r1) = (row(cy0), row(cy1));
            let (ui, vi) = if frame.format == PixelFormat::Nv12 {
                (0, 1)
            } else {
                (1, 0)
            };
            for (x, (u, v)) in cu.iter_mut().zip(cv.iter_mut()).enumerate() {
                *u = blend_one(r0[2 * x + ui], r1[2 * x + ui], cwy);
                *v = blend_one(r0[2 * x + vi], r1[2 * x + vi], cwy);
            }
        }
        _ => unreachable!("every other format is packed or grey"),
    }
    let cxs = &t.cxs;
    for (ox, (u, v)) in c1.iter_mut().zip(c2.iter_mut()).enumerate() {
        let (a, b, w) = (cxs.i0[ox] as usize, cxs.i1[ox] as usize, cxs.w1[ox]);
        *u = blend_pair(cu[a], cu[b], w);
        *v = blend_pair(cv[a], cv[b], w);
    }
    // Y, U, V in place → the tensor's channels.
    let bgr = t.order == [2, 1, 0];
    for ((y, u), v) in c0.iter_mut().zip(c1.iter_mut()).zip(c2.iter_mut()) {
        let [r, g, b] = yuv_to_rgb(k, *y, *u, *v);
        (*y, *u, *v) = if bgr { (b, g, r) } else { (r, g, b) };
    }
}

/// Writes one row of channel planes as tensor row `row` of `out`, in the model's layout and type.
#[inline(always)]
fn emit_row(t: &Tables, ch: &[Vec<u8>; 3], row: usize, out: &mut RowsOut) {
    let (w, cw) = (t.width, t.content_width);
    let [c0, c1, c2] = ch;
    let (c0, c1, c2) = (&c0[..cw], &c1[..cw], &c2[..cw]);
    let (m, s) = (t.mean, t.std);
    match out {
        RowsOut::F32Nhwc(o) => {
            let dst = &mut o[row * w * 3..(row * w + cw) * 3];
            for (d, ((a, b), c)) in dst.chunks_exact_mut(3).zip(c0.iter().zip(c1).zip(c2)) {
                d[0] = normalise(*a, m[0], s[0]);
                d[1] = normalise(*b, m[1], s[1]);
                d[2] = normalise(*c, m[2], s[2]);
            }
        }
        RowsOut::F32Nchw(planes) => {
            for (c, (p, src)) in planes.iter_mut().zip([c0, c1, c2]).enumerate() {
                for (d, v) in p[row * w..row * w + cw].iter_mut().zip(src) {
                    *d = normalise(*v, m[c], s[c]);
                }
            }
        }
        RowsOut::U8Nhwc(o) => {
            let dst = &mut o[row * w * 3..(row * w + cw) * 3];
            for (d, ((a, b), c)) in dst.chunks_exact_mut(3).zip(c0.iter().zip(c1).zip(c2)) {
                d.copy_from_slice(&[*a, *b, *c]);
            }
        }
        RowsOut::U8Nchw(planes) => {
            for (p, src) in planes.iter_mut().zip([c0, c1, c2]) {
                p[row * w..row * w + cw].copy_from_slice(src);
            }
        }
    }
}

#[inline(always)]
fn normalise(v: u8, mean: f32, std: f32) -> f32 {
    (v as f32 - mean) / std
}

/// `out[i] = a[i]·(256 − w) + b[i]·w`: two rows blended, still scaled by 256.
#[inline(always)]
fn blend_rows(a: &[u8], b: &[u8], w: u16, out: &mut [u16]) {
    let (wa, wb) = (256 - w, w);
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x as u16 * wa + y as u16 * wb;
    }
}

#[inline(always)]
fn blend_one(a: u8, b: u8, w: u16) -> u16 {
    a as u16 * (256 - w) + b as u16 * w
}

/// Blends two vertically blended samples horizontally and scales back to 0–255, rounded.
#[inline(always)]
fn blend_pair(a: u16, b: u16, w: u16) -> u8 {
    ((a as u32 * (256 - w as u32) + b as u32 * w as u32 + (1 << 15)) >> 16) as u8
}

/// The YUV → RGB matrix of a video's colorimetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YuvMatrix {
    /// SD video and most camera streams.
    #[default]
    Bt601,
    /// HD video.
    Bt709,
    Bt2020,
}

impl YuvMatrix {
    /// The luma weights Kr and Kb, as ITU-R BT.601/709/2020 define them.
    pub fn luma_weights(self) -> (f64, f64) {
        match self {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
            YuvMatrix::Bt2020 => (0.2627, 0.0593),
        }
    }
}

/// How a frame's YUV samples map to RGB: matrix and range (from the caps' colorimetry).
/// The default, BT.601 limited range, is what GStreamer assumes for SD video without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct YuvColour {
    pub matrix: YuvMatrix,
    /// Full range (0–255) rather than limited (luma 16–235, chroma 16–240).
    pub full_range: bool,
}

impl YuvColour {
    /// Luma's black level, and the spans of luma and chroma codes that 0–1 and ±½ map to.
    pub fn code_range(self) -> (f64, f64, f64) {
        if self.full_range {
            (0.0, 255.0, 255.0)
        } else {
            (16.0, 219.0, 224.0)
        }
    }
}

/// Fixed-point (×256) YUV → RGB coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct YuvCoefficients {
    y_offset: i32,
    y: i32,
    rv: i32,
    gu: i32,
    gv: i32,
    bu: i32,
}

impl YuvColour {
    /// From the matrix's luma weights and the code range.
    fn coefficients(self) -> YuvCoefficients {
        let (kr, kb) = self.matrix.luma_weights();
        let kg = 1.0 - kr - kb;
        let (y_offset, luma_span, chroma_span) = self.code_range();
        let (luma, chroma) = (255.0 / luma_span, 255.0 / chroma_span);
        let q = |x: f64| (x * 256.0).round() as i32;
        YuvCoefficients {
            y_offset: y_offset as i32,
            y: q(luma),
            rv: q(2.0 * (1.0 - kr) * chroma),
            gu: q(2.0 * kb * (1.0 - kb) / kg * chroma),
            gv: q(2.0 * kr * (1.0 - kr) / kg * chroma),
            bu: q(2.0 * (1.0 - kb) * chroma),
        }
    }
}

#[inline(always)]
fn yuv_to_rgb(k: &YuvCoefficients, y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (y as i32 - k.y_offset) * k.y;
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let clip = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clip(c + k.rv * e),
        clip(c - k.gu * d - k.gv * e),
        clip(c + k.bu * d),
    ]
}

/// Mean luma of a frame region downscaled to `out_w × out_h` (nearest sample), for the motion
/// gate. Writes into `out`, which must hold `out_w * out_h` bytes.
pub fn grey_thumbnail(frame: &FrameView, out_w: usize, out_h: usize, out: &mut [u8]) {
    for oy in 0..out_h {
        let sy = (oy * frame.height + frame.height / 2) / out_h;
        let sy = sy.min(frame.height - 1);
        for ox in 0..out_w {
            let sx = ((ox * frame.width + frame.width / 2) / out_w).min(frame.width - 1);
            out[oy * out_w + ox] = match frame.format.packed() {
                Some((o, bpp)) => {
                    let p = sy * frame.strides[0] + sx * bpp;
                    let d = frame.planes[0];
                    ((d[p + o[0]] as u32 * 77 + d[p + o[1]] as u32 * 150 + d[p + o[2]] as u32 * 29)
                        >> 8) as u8
                }
                // Every planar and semi-planar format here starts with a full-size luma plane.
                None => frame.planes[0][sy * frame.strides[0] + sx],
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(layout: Layout, order: ChannelOrder, resize: Resize) -> InputSpec {
        InputSpec {
            width: 4,
            height: 4,
            layout,
            element_type: ElementType::F32,
            order,
            mean: [0.0; 3],
            std: [1.0; 3],
            resize,
        }
    }

    fn solid_rgb(w: usize, h: usize, rgb: [u8; 3]) -> Vec<u8> {
        (0..w * h).flat_map(|_| rgb).collect()
    }

    #[test]
    fn solid_colour_in_every_layout_and_order() {
        let data = solid_rgb(8, 8, [10, 20, 30]);
        let frame = FrameView {
            format: PixelFormat::Rgb,
            width: 8,
            height: 8,
            planes: [&data, &[], &[]],
            strides: [24, 0, 0],
            yuv: Default::default(),
        };
        let mut p = Preprocessor::new(spec(Layout::Nchw, ChannelOrder::Bgr, Resize::Stretch), 8, 8);
        p.run(&frame);
        let TensorBuffer::F32(t) = p.tensor() else {
            panic!()
        };
        assert_eq!((t[0], t[16], t[32]), (30.0, 20.0, 10.0));
        let mut p = Preprocessor::new(spec(Layout::Nhwc, ChannelOrder::Rgb, Resize::Stretch), 8, 8);
        p.run(&frame);
        let TensorBuffer::F32(t) = p.tensor() else {
            panic!()
        };
        assert_eq!(&t[0..3], &[10.0, 20.0, 30.0]);
    }

    #[test]
    fn letterbox_pads_and_maps_back() {
        // 8×4 frame into a 4×4 input: content 4×2 on top, 2 rows of padding.
        let data = solid_rgb(8, 4, [200, 200, 200]);
        let frame = FrameView {
            format: PixelFormat::Rgb,
            width: 8,
            height: 4,
            planes: [&data, &[], &[]],
            strides: [24, 0, 0],
            yuv: Default::default(),
        };
        let mut p = Preprocessor::new(
            spec(
                Layout::Nhwc,
                ChannelOrder::Rgb,
                Resize::Letterbox { pad: 114 },
            ),
            8,
            4,
        );
        p.run(&frame);
        let TensorBuffer::F32(t) = p.tensor() else {
            panic!()
        };
        assert_eq!(t[0], 200.0);
        assert_eq!(t[(2 * 4) * 3], 114.0);
        let b = p.transform().to_frame(&BBox::new(0.0, 0.0, 2.0, 2.0));
        assert_eq!(b, BBox::new(0.0, 0.0, 0.5, 1.0));
    }

    #[test]
    fn yuv_formats_agree_with_rgb() {
        // Grey 128 in YUV is Y=128 (limited range ≈ 130 RGB); check the planar readers agree.
        let (w, h) = (4, 4);
        let y = vec![128u8; w * h];
        let uv = vec![128u8; w * h / 2];
        let u = vec![128u8; w * h / 4];
        let s = spec(Layout::Nhwc, ChannelOrder::Rgb, Resize::Stretch);
        let mut a = Preprocessor::new(s.clone(), w, h);
        a.run(&FrameView {
            format: PixelFormat::I420,
            width: w,
            height: h,
            planes: [&y, &u, &u],
            strides: [w, w / 2, w / 2],
            yuv: Default::default(),
        });
        let mut b = Preprocessor::new(s, w, h);
        b.run(&FrameView {
            format: PixelFormat::Nv12,
            width: w,
            height: h,
            planes: [&y, &uv, &[]],
            strides: [w, w, 0],
            yuv: Default::default(),
        });
        let (TensorBuffer::F32(ta), TensorBuffer::F32(tb)) = (a.tensor(), b.tensor()) else {
            panic!()
        };
        assert_eq!(ta, tb);
        assert!((ta[0] - 130.0).abs() <= 1.0, "{}", ta[0]);
    }

    #[test]
    fn bilinear_midpoint() {
        // Two columns 0 and 200 scaled from 2 to 4 wide: inner samples blend.
        let data = [0u8, 200];
        let frame = FrameView {
            format: PixelFormat::Gray8,
            width: 2,
            height: 1,
            planes: [&data, &[], &[]],
            strides: [2, 0, 0],
            yuv: Default::default(),
        };
        let mut s = spec(Layout::Nchw, ChannelOrder::Rgb, Resize::Stretch);
        s.height = 1;
        let mut p = Preprocessor::new(s, 2, 1);
        p.run(&frame);
        let TensorBuffer::F32(t) = p.tensor() else {
            panic!()
        };
        assert_eq!(&t[0..4], &[0.0, 50.0, 150.0, 200.0]);
    }

    /// A solid I420 frame of one YUV colour, preprocessed to RGB NHWC F32 with `yuv`.
    fn solid_yuv(yuv_sample: [u8; 3], yuv: YuvColour) -> [f32; 3] {
        let (w, h) = (4, 4);
        let (y, u, v) = (
            vec![yuv_sample[0]; w * h],
            vec![yuv_sample[1]; w * h / 4],
            vec![yuv_sample[2]; w * h / 4],
        );
        let frame = FrameView {
            format: PixelFormat::I420,
            width: w,
            height: h,
            planes: [&y, &u, &v],
            strides: [w, w / 2, w / 2],
            yuv,
        };
        let mut p = Preprocessor::new(spec(Layout::Nhwc, ChannelOrder::Rgb, Resize::Stretch), w, h);
        p.run(&frame);
        let TensorBuffer::F32(t) = p.tensor() else {
            panic!("f32 tensor")
        };
        [t[0], t[1], t[2]]
    }

    #[test]
    fn colorimetry_picks_the_matrix_and_range() {
        // BT.709 limited-range pure green: red stays ~0 only when read as BT.709.
        let green709 = [173, 42, 26];
        let as709 = solid_yuv(
            green709,
            YuvColour {
                matrix: YuvMatrix::Bt709,
                full_range: false,
            },
        );
        let as601 = solid_yuv(green709, YuvColour::default());
        assert!(
            as709[0] <= 2.0 && as709[1] >= 250.0 && as709[2] <= 2.0,
            "{as709:?}"
        );
        assert!((as601[0] - 20.0).abs() <= 2.0, "{as601:?}");
        // Limited range black is Y 16; in full range 16 is a dark grey.
        let limited = solid_yuv([16, 128, 128], YuvColour::default());
        let full = solid_yuv(
            [16, 128, 128],
            YuvColour {
                matrix: YuvMatrix::Bt601,
                full_range: true,
            },
        );
        assert_eq!(limited, [0.0; 3]);
        assert_eq!(full, [16.0; 3]);
        // BT.2020 white is white.
        let white = solid_yuv(
            [235, 128, 128],
            YuvColour {
                matrix: YuvMatrix::Bt2020,
                full_range: false,
            },
        );
        assert_eq!(white, [255.0; 3]);
    }
}
