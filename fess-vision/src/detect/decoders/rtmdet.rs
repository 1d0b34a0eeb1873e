//! RTMDet, in both forms mmdeploy exports it:
//! - end2end: `dets` `[1,N,5]` (x1,y1,x2,y2,score in input pixels, NMS done in the graph) and
//!   `labels` `[1,N]`;
//! - raw heads: for each stride s of 8, 16, 32, class logits `[1,C,H/s,W/s]` and box distances
//!   `[1,4,H/s,W/s]` (left, top, right, bottom in input pixels, already multiplied by the stride)
//!   from the prior point `(x·s, y·s)`; scores are `sigmoid(logit)` and need NMS.

use super::grid::GridLevel;
use super::{threshold_and_cap, DecodeParams, Decoder};
use crate::geometry::{BBox, Detection};
use crate::nms::nms;
use crate::runtime::signature::{ModelSignature, OutputTensor, TensorInfo};

/// The output indices of one head level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLevel {
    pub cls: usize,
    pub reg: usize,
}

pub(super) fn match_end2end(sig: &ModelSignature) -> Result<Decoder, String> {
    let dets = sig.output_index(|o| o.dims.len() == 3 && o.dims[2] == 5);
    let labels = sig.output_index(|o| o.dims.len() == 2 && o.name.contains("label"));
    match (dets, labels) {
        (Some(dets), Some(labels)) if sig.outputs.len() == 2 => {
            Ok(Decoder::RtmDetEnd2End { dets, labels })
        }
        _ => Err(format!(
            "end2end form expects outputs dets [1,N,5] and labels [1,N], found {}",
            sig.outputs_display()
        )),
    }
}

pub(super) fn match_heads(sig: &ModelSignature) -> Result<Decoder, String> {
    let err = || {
        format!(
            "raw-heads form expects 3 pairs of [1,C,h,w] class scores and [1,4,h,w] boxes, found {}",
            sig.outputs_display()
        )
    };
    let rank4 = |o: &TensorInfo| o.dims.len() == 4 && o.dims[0] <= 1;
    if sig.outputs.len() != 6 || !sig.outputs.iter().all(rank4) {
        return Err(err());
    }
    let spatial = |o: &TensorInfo| (o.dims[2], o.dims[3]);
    // Box outputs have 4 channels; class outputs have the other count (C ≠ 4 assumed, which
    // holds for every RTMDet release: 80 COCO classes, or a custom count named by the user).
    let regs: Vec<usize> = (0..6).filter(|&i| sig.outputs[i].dims[1] == 4).collect();
    let clss: Vec<usize> = (0..6).filter(|&i| sig.outputs[i].dims[1] != 4).collect();
    if regs.len() != 3 || clss.len() != 3 {
        return Err(err());
    }
    let num_classes = sig.outputs[clss[0]].dims[1];
    if num_classes <= 0 || clss.iter().any(|&i| sig.outputs[i].dims[1] != num_classes) {
        return Err(err());
    }
    let mut levels = Vec::with_capacity(3);
    for &cls in &clss {
        // Pair by spatial size; with dynamic sizes fall back to output order.
        let reg = regs
            .iter()
            .copied()
            .find(|&r| {
                spatial(&sig.outputs[r]) == spatial(&sig.outputs[cls])
                    && spatial(&sig.outputs[r]).0 > 0
            })
            .unwrap_or(regs[levels.len()]);
        levels.push(HeadLevel { cls, reg });
    }
    // Finest level (largest map, stride 8) first, as mmdet orders them.
    levels.sort_by_key(|l| std::cmp::Reverse(sig.outputs[l.cls].dims[2]));
    Ok(Decoder::RtmDetHeads {
        levels,
        num_classes: num_classes as usize,
    })
}

pub(super) fn decode_end2end(
    dets: &OutputTensor,
    labels: &OutputTensor,
    params: &DecodeParams,
) -> Result<Vec<Detection>, String> {
    if dets.shape.len() != 3 || dets.shape[0] != 1 || dets.shape[2] != 5 {
        return Err("[1,N,5]".into());
    }
    let n = dets.shape[1].min(labels.data.len());
    let out = (0..n)
        .map(|i| {
            let v = |k| dets.data.get_f32(i * 5 + k);
            Detection {
                bbox: BBox::new(v(0), v(1), v(2), v(3)),
                score: v(4),
                class_id: labels.data.get_f32(i).max(0.0) as usize,
            }
        })
        .collect();
    Ok(threshold_and_cap(out, params))
}

pub(super) fn decode_heads(
    outputs: &[OutputTensor],
    levels: &[HeadLevel],
    num_classes: usize,
    (in_w, in_h): (usize, usize),
    params: &DecodeParams,
) -> Result<Vec<Detection>, (usize, String)> {
    // Compare logits instead of taking a sigmoid per cell: sigmoid(x) ≥ t ⇔ x ≥ logit(t).
    let t = params.threshold.clamp(1e-6, 1.0 - 1e-6);
    let min_logit = (t / (1.0 - t)).ln();
    let mut found = Vec::new();
    for level in levels {
        let (cls, reg) = (&outputs[level.cls], &outputs[level.reg]);
        if cls.shape.len() != 4 || cls.shape[1] != num_classes {
            return Err((level.cls, format!("[1,{num_classes},h,w]")));
        }
        let (h, w) = (cls.shape[2], cls.shape[3]);
        if reg.shape != [1, 4, h, w] {
            return Err((level.reg, format!("[1,4,{h},{w}]")));
        }
        let Some(grid) = GridLevel::of_map((in_w, in_h), w, h) else {
            return Err((
                level.cls,
                format!("a map dividing the {in_w}x{in_h} input evenly"),
            ));
        };
        let plane = grid.cells();
        for c in 0..num_classes {
            for cell in 0..plane {
                let logit = cls.data.get_f32(c * plane + cell);
                if logit < min_logit {
                    continue;
                }
                let (px, py) = grid.origin(cell);
                let d = |k: usize| reg.data.get_f32(k * plane + cell);
                found.push(Detection {
                    bbox: BBox::new(px - d(0), py - d(1), px + d(2), py + d(3)),
                    score: 1.0 / (1.0 + (-logit).exp()),
                    class_id: c,
                });
            }
        }
    }
    found.retain(|d| d.bbox.is_valid());
    Ok(nms(found, params.iou_threshold, params.max_detections))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::signature::OutputData;

    #[test]
    fn heads_decode_with_nms_and_distances() {
        // One level, stride 8 on a 16×16 input: 2×2 map, 2 classes.
        let mut cls = vec![-10.0f32; 2 * 4];
        cls[3] = 2.0; // class 0 at cell (1,1): sigmoid(2) = 0.8808
        cls[4 + 3] = 0.0; // class 1 at the same cell: sigmoid(0) = 0.5
        let mut reg = vec![0.0f32; 4 * 4];
        for k in 0..4 {
            reg[k * 4 + 3] = 4.0; // l,t,r,b = 4 around (8,8)
        }
        let outputs = [
            OutputTensor {
                shape: &[1, 2, 2, 2],
                data: OutputData::F32(&cls),
            },
            OutputTensor {
                shape: &[1, 4, 2, 2],
                data: OutputData::F32(&reg),
            },
        ];
        let p = DecodeParams {
            threshold: 0.4,
            iou_threshold: 0.5,
            max_detections: 10,
        };
        let d = decode_heads(&outputs, &[HeadLevel { cls: 0, reg: 1 }], 2, (16, 16), &p).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].bbox, BBox::new(4.0, 4.0, 12.0, 12.0));
        assert_eq!(d[0].class_id, 0);
        assert!((d[0].score - 0.880797).abs() < 1e-5);
        assert_eq!((d[1].class_id, d[1].score), (1, 0.5));
    }
}
