//! CenterNet as exported from the TFJS graph: one `[1,N,6]` output, boxes already decoded.

use super::{threshold_and_cap, DecodeParams, Decoder};
use crate::geometry::{BBox, Detection};
use crate::nms::nms;
use crate::runtime::signature::{ModelSignature, OutputTensor};

pub(super) fn match_signature(sig: &ModelSignature) -> Result<Decoder, String> {
    // The TFJS export also exposes its raw heat maps (keypoints, wh); only `detections` is read.
    let decoded = |o: &crate::runtime::signature::TensorInfo| o.dims.len() == 3 && o.dims[2] == 6;
    let candidates: Vec<usize> = (0..sig.outputs.len())
        .filter(|&i| decoded(&sig.outputs[i]))
        .collect();
    let pick = match candidates.as_slice() {
        [one] => Some(*one),
        many => many
            .iter()
            .copied()
            .find(|&i| sig.outputs[i].name.contains("detections")),
    };
    pick.map(|detections| Decoder::CenterNet { detections })
        .ok_or_else(|| {
            format!(
                "expected an output [1,N,6] (x1,y1,x2,y2,score,class), found {}",
                sig.outputs_display()
            )
        })
}

pub(super) fn decode(out: &OutputTensor, params: &DecodeParams) -> Result<Vec<Detection>, String> {
    if out.shape.len() != 3 || out.shape[0] != 1 || out.shape[2] != 6 {
        return Err("[1,N,6]".into());
    }
    let dets = (0..out.shape[1])
        .map(|i| {
            let v = |k| out.data.get_f32(i * 6 + k);
            Detection {
                bbox: BBox::new(v(0), v(1), v(2), v(3)),
                score: v(4),
                class_id: v(5).max(0.0) as usize,
            }
        })
        .collect();
    Ok(nms(
        threshold_and_cap(dets, params),
        params.iou_threshold,
        params.max_detections,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::signature::OutputData;

    #[test]
    fn decodes_thresholds_and_suppresses() {
        #[rustfmt::skip]
        let data = [
            10.0, 20.0, 110.0, 220.0, 0.9, 0.0,
            12.0, 22.0, 112.0, 222.0, 0.8, 0.0, // same person again: suppressed
            12.0, 22.0, 112.0, 222.0, 0.7, 16.0, // a dog in the same place: kept
            0.0, 0.0, 5.0, 5.0, 0.1, 2.0, // below threshold
        ];
        let out = OutputTensor {
            shape: &[1, 4, 6],
            data: OutputData::F32(&data),
        };
        let p = DecodeParams {
            threshold: 0.3,
            iou_threshold: 0.5,
            max_detections: 10,
        };
        let d = decode(&out, &p).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].bbox, BBox::new(10.0, 20.0, 110.0, 220.0));
        assert_eq!((d[1].class_id, d[1].score), (16, 0.7));
        let bad = OutputTensor {
            shape: &[1, 4, 5],
            data: OutputData::F32(&data[..20]),
        };
        assert!(decode(&bad, &p).is_err());
    }
}
