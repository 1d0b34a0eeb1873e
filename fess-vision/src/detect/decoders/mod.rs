//! Turning a detector's output tensors into [`Detection`]s, for every supported model family.
//!
//! A [`Decoder`] is chosen from the model's declared signature (or forced by `model-type`)
//! and checked against it once, so a wrong model fails at start with a message naming the
//! tensor and the expected shape, never mid-stream.

mod centernet;
mod grid;
mod rtmdet;
mod ssd;
mod yolox;

use crate::geometry::Detection;
use crate::preprocess::{ChannelOrder, ElementType, InputSpec, Layout, Resize};
use crate::runtime::signature::{
    DimsDisplay, ModelSignature, OutputTensor, TensorInfo, TensorType,
};

pub use rtmdet::HeadLevel;

/// The model families `fessdetect` decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    CenterNet,
    Ssd,
    RtmDet,
    Yolox,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecoderError {
    #[error("model {model}: {message}")]
    Signature { model: String, message: String },
    #[error("model {model}: output {tensor} has shape {actual}, expected {expected}")]
    OutputShape {
        model: String,
        tensor: String,
        actual: String,
        expected: String,
    },
}

/// Why a model's input does not fit the preprocessing of its family.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InputError {
    #[error("input {name} has shape {shape}, expected {expected} for a {family:?} model")]
    Shape {
        name: String,
        shape: String,
        expected: &'static str,
        family: ModelFamily,
    },
    #[error("input {0} must be uint8 for an SSD model")]
    NotU8(String),
    #[error("input {name} is {ty:?}, a {family:?} model takes float32")]
    NotF32 {
        name: String,
        ty: TensorType,
        family: ModelFamily,
    },
}

/// Score threshold, NMS IoU and count cap applied after decoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeParams {
    pub threshold: f32,
    pub iou_threshold: f32,
    pub max_detections: usize,
}

/// How to read one model's outputs, with the indices of the tensors it uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoder {
    /// One output `[1,N,6]`: x1,y1,x2,y2 (input pixels), score, class id.
    CenterNet { detections: usize },
    /// TF object-detection API: normalised y1,x1,y2,x2 boxes, scores, 1-based classes.
    Ssd {
        boxes: usize,
        scores: usize,
        classes: usize,
        num_detections: Option<usize>,
    },
    /// mmdeploy end2end: `dets` `[1,N,5]` (x1,y1,x2,y2,score in input pixels) and `labels` `[1,N]`.
    RtmDetEnd2End { dets: usize, labels: usize },
    /// Raw multi-level heads: per stride, class logits `[1,C,h,w]` and l,t,r,b distances `[1,4,h,w]`.
    RtmDetHeads {
        levels: Vec<HeadLevel>,
        num_classes: usize,
    },
    /// YOLOX raw heads: one output `[1,N,5+C]`, a row per cell of the stride 8/16/32 grids.
    Yolox { output: usize, num_classes: usize },
}

const EXPECTED_FAMILIES: &str = "CenterNet (an output [1,N,6]), \
     SSD (detection_boxes, detection_scores, detection_classes), \
     RTMDet end2end (dets [1,N,5] + labels [1,N]) or \
     RTMDet raw heads (per stride 8/16/32: class scores [1,C,H/s,W/s] + boxes [1,4,H/s,W/s]) or \
     YOLOX (one output [1,N,5+C], N the cells of the stride 8/16/32 grids of the input)";

impl Decoder {
    /// Picks the decoder for `sig`: the one `family` names, or the first that fits when `None`.
    pub fn for_signature(
        model: &str,
        sig: &ModelSignature,
        family: Option<ModelFamily>,
    ) -> Result<Decoder, DecoderError> {
        let err = |message: String| DecoderError::Signature {
            model: model.to_string(),
            message,
        };
        if sig.inputs.len() != 1 {
            return Err(err(format!(
                "expected exactly one input (an image), found {}: {}",
                sig.inputs.len(),
                sig.inputs
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let found = |f: ModelFamily| -> Result<Decoder, String> {
            match f {
                ModelFamily::CenterNet => centernet::match_signature(sig),
                ModelFamily::Ssd => ssd::match_signature(sig),
                ModelFamily::RtmDet => rtmdet::match_end2end(sig)
                    .or_else(|e2e| rtmdet::match_heads(sig).map_err(|h| format!("{e2e}; {h}"))),
                ModelFamily::Yolox => yolox::match_signature(sig),
            }
        };
        match family {
            Some(f) => found(f).map_err(|m| err(format!("not a {f:?} model: {m}"))),
            // YOLOX before CenterNet: a one-class YOLOX output is [1,N,6] too, told apart by
            // its row count matching the input's grid cells.
            None => [
                ModelFamily::RtmDet,
                ModelFamily::Ssd,
                ModelFamily::Yolox,
                ModelFamily::CenterNet,
            ]
            .into_iter()
            .find_map(|f| found(f).ok())
            .ok_or_else(|| {
                err(format!(
                    "its outputs ({}) fit no decoder; expected {EXPECTED_FAMILIES}",
                    sig.outputs_display()
                ))
            }),
        }
        .and_then(|d| {
            d.input_spec(&sig.inputs[0])
                .map(|_| d)
                .map_err(|m| err(m.to_string()))
        })
    }

    pub fn family(&self) -> ModelFamily {
        match self {
            Decoder::CenterNet { .. } => ModelFamily::CenterNet,
            Decoder::Ssd { .. } => ModelFamily::Ssd,
            Decoder::RtmDetEnd2End { .. } | Decoder::RtmDetHeads { .. } => ModelFamily::RtmDet,
            Decoder::Yolox { .. } => ModelFamily::Yolox,
        }
    }

    /// The number of classes when the model's shapes reveal it.
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            Decoder::CenterNet { .. } => Some(crate::detect::labels::COCO80.len()),
            Decoder::RtmDetHeads { num_classes, .. } | Decoder::Yolox { num_classes, .. } => {
                Some(*num_classes)
            }
            Decoder::Ssd { .. } | Decoder::RtmDetEnd2End { .. } => None,
        }
    }

    /// The preprocessing this family was trained with, sized from the declared input.
    pub fn input_spec(&self, input: &TensorInfo) -> Result<InputSpec, InputError> {
        let (layout, default_size) = match self.family() {
            ModelFamily::CenterNet => (Layout::Nhwc, 512),
            ModelFamily::Ssd => (Layout::Nhwc, 300),
            ModelFamily::RtmDet => (Layout::Nchw, 640),
            ModelFamily::Yolox => (Layout::Nchw, 416),
        };
        let d = &input.dims;
        let expected = match layout {
            Layout::Nhwc => "[1,H,W,3]",
            Layout::Nchw => "[1,3,H,W]",
        };
        let channels_ok = match layout {
            Layout::Nhwc => d.len() == 4 && crate::runtime::signature::dim_matches(d[3], 3),
            Layout::Nchw => d.len() == 4 && crate::runtime::signature::dim_matches(d[1], 3),
        };
        if !channels_ok || !crate::runtime::signature::dim_matches(d[0], 1) {
            return Err(InputError::Shape {
                name: input.name.clone(),
                shape: DimsDisplay(d).to_string(),
                expected,
                family: self.family(),
            });
        }
        let (h, w) = match layout {
            Layout::Nhwc => (d[1], d[2]),
            Layout::Nchw => (d[2], d[3]),
        };
        let size = |v: i64| if v > 0 { v as usize } else { default_size };
        let element_type = match (self.family(), input.ty) {
            (ModelFamily::Ssd, TensorType::U8) => ElementType::U8,
            (ModelFamily::Ssd, _) => return Err(InputError::NotU8(input.name.clone())),
            (_, TensorType::F32) => ElementType::F32,
            (family, ty) => {
                return Err(InputError::NotF32 {
                    name: input.name.clone(),
                    ty,
                    family,
                })
            }
        };
        // Raw 0-255 RGB stretched to the input, unless the family was trained otherwise.
        let plain = InputSpec {
            width: size(w),
            height: size(h),
            layout,
            element_type,
            order: ChannelOrder::Rgb,
            mean: [0.0; 3],
            std: [1.0; 3],
            resize: Resize::Stretch,
        };
        let bgr_letterbox = InputSpec {
            order: ChannelOrder::Bgr,
            resize: Resize::Letterbox { pad: 114 },
            ..plain.clone()
        };
        Ok(match self.family() {
            ModelFamily::CenterNet | ModelFamily::Ssd => plain,
            // mmdet's RTMDet data preprocessor: ImageNet mean/std in BGR order.
            ModelFamily::RtmDet => InputSpec {
                mean: [103.53, 116.28, 123.675],
                std: [57.375, 57.12, 58.395],
                ..bgr_letterbox
            },
            // Megvii's YOLOX preprocessing: raw 0-255, no mean/std.
            ModelFamily::Yolox => bgr_letterbox,
        })
    }

    /// Decodes one run's outputs into boxes in model-input pixels.
    pub fn decode(
        &self,
        model: &str,
        outputs: &[OutputTensor],
        names: &[String],
        input_size: (usize, usize),
        params: &DecodeParams,
    ) -> Result<Vec<Detection>, DecoderError> {
        let shape_err = |i: usize, expected: String| DecoderError::OutputShape {
            model: model.to_string(),
            tensor: names.get(i).cloned().unwrap_or_else(|| format!("#{i}")),
            actual: format!("{:?}", outputs[i].shape),
            expected,
        };
        match self {
            Decoder::CenterNet { detections } => centernet::decode(&outputs[*detections], params)
                .map_err(|e| shape_err(*detections, e)),
            Decoder::Ssd {
                boxes,
                scores,
                classes,
                num_detections,
            } => ssd::decode(
                &outputs[*boxes],
                &outputs[*scores],
                &outputs[*classes],
                num_detections.map(|i| &outputs[i]),
                input_size,
                params,
            )
            .map_err(|e| shape_err(*boxes, e)),
            Decoder::RtmDetEnd2End { dets, labels } => {
                rtmdet::decode_end2end(&outputs[*dets], &outputs[*labels], params)
                    .map_err(|e| shape_err(*dets, e))
            }
            Decoder::RtmDetHeads {
                levels,
                num_classes,
            } => rtmdet::decode_heads(outputs, levels, *num_classes, input_size, params)
                .map_err(|(i, e)| shape_err(i, e)),
            Decoder::Yolox {
                output,
                num_classes,
            } => yolox::decode(&outputs[*output], *num_classes, input_size, params)
                .map_err(|e| shape_err(*output, e)),
        }
    }
}

/// Keeps detections at or above the threshold, best first, capped (no NMS: for models that did
/// their own).
fn threshold_and_cap(mut dets: Vec<Detection>, params: &DecodeParams) -> Vec<Detection> {
    dets.retain(|d| d.score >= params.threshold && d.bbox.is_valid());
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    dets.truncate(params.max_detections);
    dets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::signature::TensorType::*;

    fn sig(
        inputs: &[(&str, &[i64], TensorType)],
        outputs: &[(&str, &[i64], TensorType)],
    ) -> ModelSignature {
        ModelSignature {
            inputs: inputs
                .iter()
                .map(|(n, d, t)| TensorInfo::new(n, d, *t))
                .collect(),
            outputs: outputs
                .iter()
                .map(|(n, d, t)| TensorInfo::new(n, d, *t))
                .collect(),
        }
    }

    #[test]
    fn auto_detects_each_family() {
        let centernet = sig(
            &[("tower_0/images:0", &[1, 512, 512, 3], F32)],
            &[
                ("tower_0/wh", &[1, 128, 128, 4], F32),
                ("tower_0/keypoints", &[1, 128, 128, 80], F32),
                ("tower_0/detections", &[1, 100, 6], F32),
            ],
        );
        assert_eq!(
            Decoder::for_signature("c", &centernet, None).unwrap(),
            Decoder::CenterNet { detections: 2 }
        );
        let e2e = sig(
            &[("input", &[1, 3, 640, 640], F32)],
            &[("labels", &[1, 100], I64), ("dets", &[1, 100, 5], F32)],
        );
        assert_eq!(
            Decoder::for_signature("r", &e2e, None).unwrap(),
            Decoder::RtmDetEnd2End { dets: 1, labels: 0 }
        );
        let ssd = sig(
            &[("image_tensor:0", &[-1, -1, -1, 3], U8)],
            &[
                ("detection_boxes:0", &[-1, 100, 4], F32),
                ("detection_classes:0", &[-1, 100], F32),
                ("detection_scores:0", &[-1, 100], F32),
                ("num_detections:0", &[-1], F32),
            ],
        );
        let d = Decoder::for_signature("s", &ssd, None).unwrap();
        assert_eq!(
            d,
            Decoder::Ssd {
                boxes: 0,
                scores: 2,
                classes: 1,
                num_detections: Some(3)
            }
        );
        assert_eq!(d.input_spec(&ssd.inputs[0]).unwrap().width, 300);
        let yolox = sig(
            &[("images", &[1, 3, 416, 416], F32)],
            &[("output", &[1, 3549, 85], F32)],
        );
        let d = Decoder::for_signature("y", &yolox, None).unwrap();
        assert_eq!(
            d,
            Decoder::Yolox {
                output: 0,
                num_classes: 80
            }
        );
        let spec = d.input_spec(&yolox.inputs[0]).unwrap();
        assert_eq!(
            (spec.width, spec.order, spec.mean),
            (416, ChannelOrder::Bgr, [0.0; 3])
        );
        // A one-class YOLOX is [1,N,6] too: the row count tells it from a CenterNet list.
        let one_class = sig(
            &[("images", &[1, 3, 64, 64], F32)],
            &[("output", &[1, 84, 6], F32)],
        );
        assert_eq!(
            Decoder::for_signature("y1", &one_class, None).unwrap(),
            Decoder::Yolox {
                output: 0,
                num_classes: 1
            }
        );
        let list = sig(
            &[("images", &[1, 64, 64, 3], F32)],
            &[("detections", &[1, 100, 6], F32)],
        );
        assert_eq!(
            Decoder::for_signature("c1", &list, None).unwrap(),
            Decoder::CenterNet { detections: 0 }
        );
    }

    #[test]
    fn auto_detects_raw_heads_in_any_order() {
        let heads = sig(
            &[("input", &[1, 3, 64, 64], F32)],
            &[
                ("cls_32", &[1, 3, 2, 2], F32),
                ("reg_8", &[1, 4, 8, 8], F32),
                ("cls_8", &[1, 3, 8, 8], F32),
                ("reg_16", &[1, 4, 4, 4], F32),
                ("cls_16", &[1, 3, 4, 4], F32),
                ("reg_32", &[1, 4, 2, 2], F32),
            ],
        );
        let Decoder::RtmDetHeads {
            levels,
            num_classes,
        } = Decoder::for_signature("h", &heads, None).unwrap()
        else {
            panic!("not heads")
        };
        assert_eq!(num_classes, 3);
        let pairs: Vec<(usize, usize)> = levels.iter().map(|l| (l.cls, l.reg)).collect();
        assert_eq!(pairs, vec![(2, 1), (4, 3), (0, 5)]);
    }

    #[test]
    fn errors_name_the_tensor_and_shapes() {
        let odd = sig(&[("x", &[1, 3, 64, 64], F32)], &[("y", &[1, 7], F32)]);
        let e = Decoder::for_signature("odd.onnx", &odd, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("odd.onnx") && e.contains("y [1,7]") && e.contains("fit no decoder"),
            "{e}"
        );
        let forced = Decoder::for_signature("odd.onnx", &odd, Some(ModelFamily::CenterNet))
            .unwrap_err()
            .to_string();
        assert!(
            forced.contains("not a CenterNet model") && forced.contains("[1,N,6]"),
            "{forced}"
        );
        let bad_input = sig(&[("x", &[1, 1, 64, 64], F32)], &[("d", &[1, 100, 6], F32)]);
        let e = Decoder::for_signature("g.onnx", &bad_input, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("input x has shape [1,1,64,64], expected [1,H,W,3]"),
            "{e}"
        );
    }
}
