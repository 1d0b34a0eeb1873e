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
#[derive(Debug)]
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
    content_width: usize,
    content_height: usize,
    xs: AxisTable,
    ys: AxisTable,
    lut: [[f32; 256]; 3],
    transform: InputTransform,
    tensor: TensorBuffer,
}

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
        let mut lut = [[0f32; 256]; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            for (v, out) in table.iter_mut().enumerate() {
                *out = (v as f32 - spec.mean[c]) / spec.std[c];
            }
        }
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
                    *out = lut[c][pad as usize];
                }
                TensorBuffer::F32(v)
            }
            ElementType::U8 => TensorBuffer::U8(vec![pad; len]),
        };
        Preprocessor {
            transform: InputTransform {
                scale_x: cw as f32 / frame_width as f32,
                scale_y: ch as f32 / frame_height as f32,
                frame_width: frame_width as f32,
                frame_height: frame_height as f32,
            },
            xs: AxisTable::new(frame_width, cw),
            ys: AxisTable::new(frame_height, ch),
            content_width: cw,
            content_height: ch,
            frame_width,
            frame_height,
            lut,
            spec,
            tensor,
        }
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
    pub fn run(&mut self, frame: &FrameView) {
        debug_assert!(self.fits(frame.width, frame.height));
        if let Some((offsets, bpp)) = frame.format.packed() {
            self.resample(&Packed {
                data: frame.planes[0],
                stride: frame.strides[0],
                offsets,
                bpp,
            });
            return;
        }
        match frame.format {
            PixelFormat::I420 | PixelFormat::Yv12 => {
                let (u, v) = if frame.format == PixelFormat::I420 {
                    (1, 2)
                } else {
                    (2, 1)
                };
                self.resample(&Planar {
                    y: frame.planes[0],
                    u: frame.planes[u],
                    v: frame.planes[v],
                    y_stride: frame.strides[0],
                    u_stride: frame.strides[u],
                    v_stride: frame.strides[v],
                })
            }
            PixelFormat::Nv12 | PixelFormat::Nv21 => self.resample(&SemiPlanar {
                y: frame.planes[0],
                uv: frame.planes[1],
                y_stride: frame.strides[0],
                uv_stride: frame.strides[1],
                u_first: frame.format == PixelFormat::Nv12,
            }),
            PixelFormat::Gray8 => self.resample(&Gray {
                data: frame.planes[0],
                stride: frame.strides[0],
            }),
            _ => unreachable!("packed formats handled above"),
        }
    }

    fn resample<S: Sampler>(&mut self, src: &S) {
        let (w, h) = (self.spec.width, self.spec.height);
        let plane = w * h;
        let swap = self.spec.order == ChannelOrder::Bgr;
        let layout = self.spec.layout;
        for oy in 0..self.content_height {
            let (sy0, sy1) = (self.ys.i0[oy] as usize, self.ys.i1[oy] as usize);
            let wy = self.ys.w1[oy] as u32;
            for ox in 0..self.content_width {
                let (sx0, sx1) = (self.xs.i0[ox] as usize, self.xs.i1[ox] as usize);
                let wx = self.xs.w1[ox] as u32;
                let p00 = src.rgb(sx0, sy0);
                let p01 = src.rgb(sx1, sy0);
                let p10 = src.rgb(sx0, sy1);
                let p11 = src.rgb(sx1, sy1);
                let mut rgb = [0u8; 3];
                for c in 0..3 {
                    let top = p00[c] as u32 * (256 - wx) + p01[c] as u32 * wx;
                    let bottom = p10[c] as u32 * (256 - wx) + p11[c] as u32 * wx;
                    rgb[c] = ((top * (256 - wy) + bottom * wy + (1 << 15)) >> 16) as u8;
                }
                if swap {
                    rgb.swap(0, 2);
                }
                let pixel = oy * w + ox;
                match &mut self.tensor {
                    TensorBuffer::F32(t) => match layout {
                        Layout::Nchw => {
                            t[pixel] = self.lut[0][rgb[0] as usize];
                            t[plane + pixel] = self.lut[1][rgb[1] as usize];
                            t[2 * plane + pixel] = self.lut[2][rgb[2] as usize];
                        }
                        Layout::Nhwc => {
                            let o = pixel * 3;
                            t[o] = self.lut[0][rgb[0] as usize];
                            t[o + 1] = self.lut[1][rgb[1] as usize];
                            t[o + 2] = self.lut[2][rgb[2] as usize];
                        }
                    },
                    TensorBuffer::U8(t) => match layout {
                        Layout::Nchw => {
                            t[pixel] = rgb[0];
                            t[plane + pixel] = rgb[1];
                            t[2 * plane + pixel] = rgb[2];
                        }
                        Layout::Nhwc => t[pixel * 3..pixel * 3 + 3].copy_from_slice(&rgb),
                    },
                }
            }
        }
    }
}

/// Reads one pixel as RGB.
trait Sampler {
    fn rgb(&self, x: usize, y: usize) -> [u8; 3];
}

struct Packed<'a> {
    data: &'a [u8],
    stride: usize,
    offsets: [usize; 3],
    bpp: usize,
}

impl Sampler for Packed<'_> {
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let o = y * self.stride + x * self.bpp;
        [
            self.data[o + self.offsets[0]],
            self.data[o + self.offsets[1]],
            self.data[o + self.offsets[2]],
        ]
    }
}

struct Gray<'a> {
    data: &'a [u8],
    stride: usize,
}

impl Sampler for Gray<'_> {
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let v = self.data[y * self.stride + x];
        [v, v, v]
    }
}

struct Planar<'a> {
    y: &'a [u8],
    u: &'a [u8],
    v: &'a [u8],
    y_stride: usize,
    u_stride: usize,
    v_stride: usize,
}

impl Sampler for Planar<'_> {
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        yuv_to_rgb(
            self.y[y * self.y_stride + x],
            self.u[(y / 2) * self.u_stride + x / 2],
            self.v[(y / 2) * self.v_stride + x / 2],
        )
    }
}

struct SemiPlanar<'a> {
    y: &'a [u8],
    uv: &'a [u8],
    y_stride: usize,
    uv_stride: usize,
    u_first: bool,
}

impl Sampler for SemiPlanar<'_> {
    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let o = (y / 2) * self.uv_stride + (x / 2) * 2;
        let (a, b) = (self.uv[o], self.uv[o + 1]);
        let (u, v) = if self.u_first { (a, b) } else { (b, a) };
        yuv_to_rgb(self.y[y * self.y_stride + x], u, v)
    }
}

/// BT.601 limited range, the colorimetry decoders give SD and most camera streams.
#[inline(always)]
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (y as i32 - 16) * 298;
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let clip = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clip(c + 409 * e),
        clip(c - 100 * d - 208 * e),
        clip(c + 516 * d),
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
        });
        let mut b = Preprocessor::new(s, w, h);
        b.run(&FrameView {
            format: PixelFormat::Nv12,
            width: w,
            height: h,
            planes: [&y, &uv, &[]],
            strides: [w, w, 0],
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
}
