//! YOLOX as Megvii exports it (`tools/export_onnx.py`, decode in the graph off): one output
//! `[1,N,5+C]` whose rows are the cells of the stride 8, 16 and 32 grids in that order, each
//! `[x, y, w, h, objectness, C class scores]`, objectness and class scores already sigmoided.
//! The box centre is `(x + cell_x, y + cell_y)·stride` and its size `exp(w, h)·stride`, in input
//! pixels; a class's score is objectness × class score; NMS is left to us.

use super::grid::{GridLevel, STRIDES};
use super::{DecodeParams, Decoder};
use crate::geometry::{BBox, Detection};
use crate::nms::nms;
use crate::runtime::signature::{ModelSignature, OutputTensor};

/// Rows a `in_w × in_h` input gives, when the strides divide it.
fn rows_for_input(input: (usize, usize)) -> Option<usize> {
    GridLevel::for_input(input, &STRIDES).map(|l| l.iter().map(GridLevel::cells).sum())
}

pub(super) fn match_signature(sig: &ModelSignature) -> Result<Decoder, String> {
    let err = |why: &str| {
        format!(
            "expected one output [1,N,5+C] with N the cells of the stride 8/16/32 grids of the \
             input ({why}), found {}",
            sig.outputs_display()
        )
    };
    let [out] = sig.outputs.as_slice() else {
        return Err(err("one output"));
    };
    let d = &out.dims;
    if d.len() != 3 || d[2] < 6 {
        return Err(err("rank 3, at least one class"));
    }
    // The row count ties the output to the input size: it is what tells a YOLOX head apart
    // from a decoded `[1,N,6]` list (CenterNet) of a one-class model.
    let input = &sig.inputs[0].dims;
    let (h, w) = match input.as_slice() {
        [_, _, h, w] if *h > 0 && *w > 0 => (*h as usize, *w as usize),
        _ => return Err(err("a fixed NCHW input size")),
    };
    match rows_for_input((w, h)) {
        Some(n) if d[1] == n as i64 => Ok(Decoder::Yolox {
            output: 0,
            num_classes: (d[2] - 5) as usize,
        }),
        Some(n) => Err(err(&format!("{n} rows for a {w}x{h} input"))),
        None => Err(err(&format!("{w}x{h} is not a multiple of 32"))),
    }
}

pub(super) fn decode(
    out: &OutputTensor,
    num_classes: usize,
    input: (usize, usize),
    params: &DecodeParams,
) -> Result<Vec<Detection>, String> {
    let width = 5 + num_classes;
    let levels = GridLevel::for_input(input, &STRIDES).unwrap_or_default();
    let rows: usize = levels.iter().map(GridLevel::cells).sum();
    if out.shape != [1, rows, width] || rows == 0 {
        return Err(format!("[1,{rows},{width}]"));
    }
    let mut found = Vec::new();
    let mut row = 0;
    for level in &levels {
        let s = level.stride as f32;
        for cell in 0..level.cells() {
            let base = row * width;
            row += 1;
            let v = |k: usize| out.data.get_f32(base + k);
            let objectness = v(4);
            // score = objectness × class score ≤ objectness: most cells end here.
            if objectness < params.threshold {
                continue;
            }
            let (gx, gy) = level.origin(cell);
            let (cx, cy) = (v(0) * s + gx, v(1) * s + gy);
            let (hw, hh) = (v(2).exp() * s / 2.0, v(3).exp() * s / 2.0);
            let bbox = BBox::new(cx - hw, cy - hh, cx + hw, cy + hh);
            if !bbox.is_valid() {
                continue;
            }
            for c in 0..num_classes {
                let score = objectness * v(5 + c);
                if score >= params.threshold {
                    found.push(Detection {
                        bbox,
                        score,
                        class_id: c,
                    });
                }
            }
        }
    }
    Ok(nms(found, params.iou_threshold, params.max_detections))
}
