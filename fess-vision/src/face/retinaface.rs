//! RetinaFace (the Pytorch_Retinaface layout): anchors at strides 8/16/32 with two sizes
//! each, box and five-landmark offsets with variances 0.1 / 0.2, softmaxed face scores.

use crate::geometry::BBox;
use crate::nms::{nms, Candidate};
use crate::runtime::signature::{ModelSignature, OutputTensor, TensorInfo};

const STRIDES: [usize; 3] = [8, 16, 32];
const MIN_SIZES: [[f32; 2]; 3] = [[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]];
const VARIANCE: [f32; 2] = [0.1, 0.2];

/// One face: in model-input pixels as decoded here, in frame pixels once
/// [`FaceEngine::detect`](super::engine::FaceEngine::detect) maps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    pub bbox: BBox,
    pub score: f32,
    /// Eyes (left, right as seen), nose, mouth corners (left, right).
    pub landmarks: [(f32, f32); 5],
}

impl Face {
    /// The shorter side of the face box, in pixels.
    pub fn size(&self) -> f32 {
        self.bbox.width().min(self.bbox.height())
    }

    /// Bigger and surer is better: what the recheck rule compares.
    pub fn quality(&self) -> f32 {
        self.size() * self.score
    }
}

impl Candidate for Face {
    fn bbox(&self) -> &BBox {
        &self.bbox
    }
    fn score(&self) -> f32 {
        self.score
    }
    fn class_id(&self) -> usize {
        0
    }
}

/// Which outputs hold boxes, scores and landmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetinaFace {
    loc: usize,
    conf: usize,
    landmarks: usize,
}

/// Anchor centres and sizes, normalised to the input, in the order the model emits them.
pub fn priors(width: usize, height: usize) -> Vec<[f32; 4]> {
    let mut out = Vec::new();
    for (stride, sizes) in STRIDES.iter().zip(MIN_SIZES) {
        let (fw, fh) = (width.div_ceil(*stride), height.div_ceil(*stride));
        for i in 0..fh {
            for j in 0..fw {
                for s in sizes {
                    out.push([
                        (j as f32 + 0.5) * *stride as f32 / width as f32,
                        (i as f32 + 0.5) * *stride as f32 / height as f32,
                        s / width as f32,
                        s / height as f32,
                    ]);
                }
            }
        }
    }
    out
}

/// A face detection model without RetinaFace's three outputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a RetinaFace model: expected outputs loc [1,N,4], conf [1,N,2] and landmarks [1,N,10], \
     found {outputs}"
)]
pub struct NotRetinaFace {
    /// The model's outputs, as [`ModelSignature::outputs_display`] shows them.
    pub outputs: String,
}

impl RetinaFace {
    /// Finds the three outputs `[1,N,4]`, `[1,N,2]`, `[1,N,10]` (by shape, names as a hint).
    pub fn for_signature(sig: &ModelSignature) -> Result<RetinaFace, NotRetinaFace> {
        let find = |last: i64, name: &str| {
            let fits = |o: &TensorInfo| o.dims.len() == 3 && o.dims[2] == last;
            sig.output_index(|o| fits(o) && o.name == name)
                .or_else(|| sig.output_index(fits))
        };
        match (find(4, "loc"), find(2, "conf"), find(10, "landmarks")) {
            (Some(loc), Some(conf), Some(landmarks)) => Ok(RetinaFace {
                loc,
                conf,
                landmarks,
            }),
            _ => Err(NotRetinaFace {
                outputs: sig.outputs_display(),
            }),
        }
    }

    /// Faces scoring at least `threshold` on a `width × height` input, after NMS.
    pub fn decode(
        &self,
        outs: &[OutputTensor],
        width: usize,
        height: usize,
        threshold: f32,
        iou_threshold: f32,
        max_faces: usize,
    ) -> Result<Vec<Face>, String> {
        let priors = priors(width, height);
        let n = priors.len();
        let check = |i: usize, last: usize| {
            let o = &outs[i];
            if o.shape != [1, n, last] || o.data.len() != n * last {
                Err(format!(
                    "RetinaFace output {i} has shape {:?}, expected [1, {n}, {last}] for a \
                     {width}x{height} input",
                    o.shape
                ))
            } else {
                Ok(o)
            }
        };
        let (loc, conf, lm) = (
            check(self.loc, 4)?,
            check(self.conf, 2)?,
            check(self.landmarks, 10)?,
        );
        let (w, h) = (width as f32, height as f32);
        let mut found = Vec::new();
        for (k, p) in priors.iter().enumerate() {
            let score = conf.data.get_f32(k * 2 + 1);
            if score < threshold || !score.is_finite() {
                continue;
            }
            let l = |c: usize| loc.data.get_f32(k * 4 + c);
            let cx = p[0] + l(0) * VARIANCE[0] * p[2];
            let cy = p[1] + l(1) * VARIANCE[0] * p[3];
            let bw = p[2] * (l(2) * VARIANCE[1]).exp();
            let bh = p[3] * (l(3) * VARIANCE[1]).exp();
            let mut landmarks = [(0.0, 0.0); 5];
            for (m, out) in landmarks.iter_mut().enumerate() {
                *out = (
                    (p[0] + lm.data.get_f32(k * 10 + m * 2) * VARIANCE[0] * p[2]) * w,
                    (p[1] + lm.data.get_f32(k * 10 + m * 2 + 1) * VARIANCE[0] * p[3]) * h,
                );
            }
            let bbox = BBox::new(
                (cx - bw / 2.0) * w,
                (cy - bh / 2.0) * h,
                (cx + bw / 2.0) * w,
                (cy + bh / 2.0) * h,
            );
            if bbox.is_valid() {
                found.push(Face {
                    bbox,
                    score,
                    landmarks,
                });
            }
        }
        Ok(nms(found, iou_threshold, max_faces))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::signature::{OutputData, TensorType};

    fn sig() -> ModelSignature {
        ModelSignature {
            inputs: vec![TensorInfo::new("input", &[1, 3, -1, -1], TensorType::F32)],
            outputs: vec![
                TensorInfo::new("loc", &[1, -1, 4], TensorType::F32),
                TensorInfo::new("conf", &[1, -1, 2], TensorType::F32),
                TensorInfo::new("landmarks", &[1, -1, 10], TensorType::F32),
            ],
        }
    }

    #[test]
    fn priors_for_a_32_pixel_input() {
        let p = priors(32, 32);
        // 4x4 cells at stride 8, 2x2 at 16, 1x1 at 32; two sizes each.
        assert_eq!(p.len(), 32 + 8 + 2);
        assert_eq!(p[0], [0.125, 0.125, 0.5, 0.5]);
        assert_eq!(p[1], [0.125, 0.125, 1.0, 1.0]);
        assert_eq!(p[2], [0.375, 0.125, 0.5, 0.5]);
        assert_eq!(p[32], [0.25, 0.25, 2.0, 2.0]);
        assert_eq!(p[41], [0.5, 0.5, 16.0, 16.0]);
        // Odd sizes round the feature maps up.
        assert_eq!(priors(40, 24).len(), (5 * 3 + 3 * 2 + 2) * 2);
    }

    #[test]
    fn decodes_boxes_and_landmarks_exactly() {
        let n = 42;
        let mut loc = vec![0f32; n * 4];
        let mut conf: Vec<f32> = (0..n).flat_map(|_| [0.99, 0.01]).collect();
        let mut lm = vec![0f32; n * 10];
        // Prior 0 (centre 4,4, size 16): shifted by +1 prior-width*0.1 in x, twice as wide.
        conf[1] = 0.9;
        loc[0] = 1.0;
        loc[2] = 2f32.ln() / 0.2;
        lm[0] = -1.0; // left eye 1.6 px left of the centre
        lm[9] = 2.0; // right mouth corner 3.2 px below
                     // Prior 2 (centre 12,4): its box overlaps the first one with IoU 0.5.
        conf[2 * 2 + 1] = 0.8;
        let shapes = [[1, n, 4], [1, n, 2], [1, n, 10]];
        let outs = [
            OutputTensor {
                shape: &shapes[0],
                data: OutputData::F32(&loc),
            },
            OutputTensor {
                shape: &shapes[1],
                data: OutputData::F32(&conf),
            },
            OutputTensor {
                shape: &shapes[2],
                data: OutputData::F32(&lm),
            },
        ];
        let rf = RetinaFace::for_signature(&sig()).unwrap();
        assert_eq!(rf.decode(&outs, 32, 32, 0.5, 0.4, 10).unwrap().len(), 1);
        let faces = rf.decode(&outs, 32, 32, 0.5, 0.6, 10).unwrap();
        assert_eq!(faces.len(), 2);
        let f = &faces[0];
        assert_eq!(f.score, 0.9);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-4;
        // centre x 4 + 1*0.1*16 = 5.6, width 32; centre y 4, height 16.
        let b = f.bbox;
        assert!(close(b.x1, -10.4) && close(b.x2, 21.6), "{b:?}");
        assert!(close(b.y1, -4.0) && close(b.y2, 12.0), "{b:?}");
        assert!(close(f.landmarks[0].0, 2.4) && close(f.landmarks[0].1, 4.0));
        assert!(close(f.landmarks[4].0, 4.0) && close(f.landmarks[4].1, 7.2));
        assert_eq!(faces[1].score, 0.8);
        // A higher threshold keeps only the best.
        assert_eq!(rf.decode(&outs, 32, 32, 0.85, 0.6, 10).unwrap().len(), 1);
        // Outputs for another input size are refused, not misread.
        let err = rf.decode(&outs, 64, 64, 0.5, 0.4, 10).unwrap_err();
        assert!(err.contains("expected [1, 168, 4]"), "{err}");
    }

    #[test]
    fn refuses_a_detector_that_is_not_retinaface() {
        let mut s = sig();
        s.outputs.pop();
        let err = RetinaFace::for_signature(&s).unwrap_err().to_string();
        assert!(err.contains("landmarks [1,N,10]"), "{err}");
    }
}
