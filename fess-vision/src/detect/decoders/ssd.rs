//! TF object-detection API SSD graphs (NMS inside the graph): normalised y1,x1,y2,x2 boxes,
//! scores and 1-based class ids, optionally `num_detections`.

use super::{threshold_and_cap, DecodeParams, Decoder};
use crate::geometry::{BBox, Detection};
use crate::runtime::signature::{ModelSignature, OutputTensor};

pub(super) fn match_signature(sig: &ModelSignature) -> Result<Decoder, String> {
    let find = |key: &str| sig.output_index(|o| o.name.contains(key));
    match (
        find("detection_boxes"),
        find("detection_scores"),
        find("detection_classes"),
    ) {
        (Some(boxes), Some(scores), Some(classes)) => Ok(Decoder::Ssd {
            boxes,
            scores,
            classes,
            num_detections: find("num_detections"),
        }),
        _ => Err(format!(
            "expected outputs detection_boxes, detection_scores and detection_classes, found {}",
            sig.outputs_display()
        )),
    }
}

pub(super) fn decode(
    boxes: &OutputTensor,
    scores: &OutputTensor,
    classes: &OutputTensor,
    num: Option<&OutputTensor>,
    (width, height): (usize, usize),
    params: &DecodeParams,
) -> Result<Vec<Detection>, String> {
    if boxes.shape.len() != 3 || boxes.shape[2] != 4 {
        return Err("[1,N,4]".into());
    }
    let mut n = boxes.shape[1]
        .min(scores.data.len())
        .min(classes.data.len());
    if let Some(num) = num.filter(|t| !t.data.is_empty()) {
        n = n.min(num.data.get_f32(0).max(0.0) as usize);
    }
    let (w, h) = (width as f32, height as f32);
    let dets = (0..n)
        .map(|i| {
            let b = |k| boxes.data.get_f32(i * 4 + k);
            Detection {
                bbox: BBox::new(b(1) * w, b(0) * h, b(3) * w, b(2) * h),
                score: scores.data.get_f32(i),
                class_id: (classes.data.get_f32(i) - 1.0).max(0.0) as usize,
            }
        })
        .collect();
    Ok(threshold_and_cap(dets, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::signature::OutputData;

    #[test]
    fn decodes_normalised_yxyx_and_one_based_classes() {
        let boxes = [0.1, 0.2, 0.5, 0.6, 0.0, 0.0, 0.1, 0.1, 0.0, 0.0, 1.0, 1.0];
        let scores = [0.9, 0.2, 0.8];
        let classes = [1.0, 1.0, 3.0];
        let num = [2.0];
        let t = |shape, d| OutputTensor {
            shape,
            data: OutputData::F32(d),
        };
        let p = DecodeParams {
            threshold: 0.5,
            iou_threshold: 0.5,
            max_detections: 10,
        };
        let d = decode(
            &t(&[1, 3, 4], &boxes),
            &t(&[1, 3], &scores),
            &t(&[1, 3], &classes),
            Some(&t(&[1], &num)),
            (300, 200),
            &p,
        )
        .unwrap();
        // num_detections = 2 hides the third; the second is under the threshold.
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].class_id, 0);
        let b = d[0].bbox;
        assert!((b.x1 - 60.0).abs() < 1e-4 && (b.y1 - 20.0).abs() < 1e-4);
        assert!((b.x2 - 180.0).abs() < 1e-4 && (b.y2 - 100.0).abs() < 1e-4);
    }
}
