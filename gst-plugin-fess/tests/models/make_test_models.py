"""Builds small detector-shaped ONNX models whose outputs are known by construction.

Each model takes an image tensor and returns fixed tensors (plus 0 x the input's mean, so the
graph really reads its input). The Rust tests decode them and compare with the values written
here, worked out by hand in the comments. Usage: make_test_models.py OUTDIR
"""
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def model(name, inputs, outputs, nodes, inits, out_dir):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(out_dir / f"{name}.onnx"))


def zero_from(input_name, as_uint8=False):
    """Nodes computing a float scalar 0 that depends on the input."""
    nodes = []
    src = input_name
    if as_uint8:
        nodes.append(helper.make_node("Cast", [input_name], ["input_f"], to=TensorProto.FLOAT))
        src = "input_f"
    nodes += [
        helper.make_node("ReduceMean", [src], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero_c"], ["zero"]),
    ]
    return nodes, [numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero_c")]


def const_output(out_name, value, nodes, inits, depends=True):
    arr = np.asarray(value)
    inits.append(numpy_helper.from_array(arr, f"{out_name}_c"))
    if depends and arr.dtype == np.float32:
        nodes.append(helper.make_node("Add", [f"{out_name}_c", "zero"], [out_name]))
    else:
        nodes.append(helper.make_node("Identity", [f"{out_name}_c"], [out_name]))
    elem = TensorProto.FLOAT if arr.dtype == np.float32 else TensorProto.INT64
    return helper.make_tensor_value_info(out_name, elem, list(arr.shape))


def rtmdet_end2end(out):
    # dets rows: x1,y1,x2,y2,score in 64x64 input pixels. The third overlaps the first: the graph
    # has already done NMS in an end2end export, so the decoder keeps it. The last is under 0.4.
    dets = np.array([[[4, 8, 20, 40, 0.9],
                      [30, 30, 60, 62, 0.8],
                      [6, 10, 22, 42, 0.6],
                      [0, 0, 10, 10, 0.2]]], dtype=np.float32)
    labels = np.array([[0, 2, 0, 1]], dtype=np.int64)
    nodes, inits = zero_from("input")
    outs = [const_output("dets", dets, nodes, inits), const_output("labels", labels, nodes, inits)]
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 64])
    model("rtmdet_end2end", [inp], outs, nodes, inits, out)


def rtmdet_heads(out):
    # 3 classes, input 64x64: maps 8x8 (stride 8), 4x4 (16), 2x2 (32). Logits -10 (score ~0)
    # except the cells below; prior point = (x*stride, y*stride); reg = l,t,r,b in pixels.
    c = 3
    cls = {s: np.full((1, c, 64 // s, 64 // s), -10.0, dtype=np.float32) for s in (8, 16, 32)}
    reg = {s: np.zeros((1, 4, 64 // s, 64 // s), dtype=np.float32) for s in (8, 16, 32)}

    def put(s, k, y, x, logit, ltrb):
        cls[s][0, k, y, x] = logit
        reg[s][0, :, y, x] = ltrb

    # stride 8, class 0, point (24,16): box (16,8,32,40), score sigmoid(3) = 0.952574
    put(8, 0, 2, 3, 3.0, (8, 8, 8, 24))
    # stride 8, class 0, point (32,16): box (18,8,34,40), sigmoid(1) = 0.731059, IoU 0.778 with
    # the first: suppressed by NMS at 0.5
    put(8, 0, 2, 4, 1.0, (14, 8, 2, 24))
    # stride 16, class 1, point (16,16): box (6,4,30,32), sigmoid(2) = 0.880797; overlaps the
    # first but is another class: kept
    put(16, 1, 1, 1, 2.0, (10, 12, 14, 16))
    # stride 32, class 2, point (32,32): box (12,12,62,62), sigmoid(0.5) = 0.622459
    put(32, 2, 1, 1, 0.5, (20, 20, 30, 30))
    # stride 32, class 1, point (0,0): sigmoid(-0.5) = 0.377541, under the 0.4 threshold
    put(32, 1, 0, 0, -0.5, (0, 0, 10, 10))

    nodes, inits = zero_from("input")
    # Outputs in mmdeploy's order: all class maps, then all box maps.
    outs = [const_output(f"cls_{s}", cls[s], nodes, inits) for s in (8, 16, 32)]
    outs += [const_output(f"reg_{s}", reg[s], nodes, inits) for s in (8, 16, 32)]
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 64])
    model("rtmdet_heads", [inp], outs, nodes, inits, out)


def yolox_like(out):
    # [1,84,5+3] for a 64x64 NCHW input: rows 0-63 the 8x8 cells of stride 8, 64-79 the 4x4 of
    # stride 16, 80-83 the 2x2 of stride 32, row-major. Row: x, y, log w, log h (in strides,
    # from the cell's corner), objectness, 3 class scores (both already sigmoided). Box centre
    # (x + cx)*s, (y + cy)*s; size exp(w)*s, exp(h)*s; score = objectness * class score.
    rows = np.zeros((1, 84, 8), dtype=np.float32)
    rows[0, :, 4:] = 0.01

    def put(row, xywh, obj, scores):
        rows[0, row, :4] = xywh
        rows[0, row, 4] = obj
        rows[0, row, 5:] = scores

    # stride 8, cell (3,2): centre (28,20), 16x32: box (20,4,36,36), class 0, 0.9*0.95 = 0.855
    put(2 * 8 + 3, (0.5, 0.5, np.log(2), np.log(4)), 0.9, (0.95, 0.01, 0.01))
    # stride 8, cell (4,2): centre (32,20), 16x32: box (24,4,40,36), class 0, 0.8*0.9 = 0.72;
    # IoU 0.6 with the first: suppressed by NMS at 0.5
    put(2 * 8 + 4, (0.0, 0.5, np.log(2), np.log(4)), 0.8, (0.9, 0.01, 0.01))
    # stride 16, cell (1,1): centre (16,16), 24x32: box (4,0,28,32); class 1 0.95*0.9 = 0.855
    # and class 2 0.95*0.5 = 0.475, both kept (NMS is per class)
    put(64 + 1 * 4 + 1, (0.0, 0.0, np.log(1.5), np.log(2)), 0.95, (0.01, 0.9, 0.5))
    # stride 32, cell (1,1): centre (48,48), 32x32: box (32,32,64,64), class 0, 0.7*0.8 = 0.56
    put(80 + 3, (0.5, 0.5, 0.0, 0.0), 0.7, (0.8, 0.01, 0.01))
    # stride 32, cell (0,0): class 1, 0.5*0.7 = 0.35, under the 0.4 threshold
    put(80, (0.5, 0.5, 0.0, 0.0), 0.5, (0.01, 0.7, 0.01))

    nodes, inits = zero_from("images")
    outs = [const_output("output", rows, nodes, inits)]
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    model("yolox_like", [inp], outs, nodes, inits, out)


def centernet_like(out):
    # [1,N,6]: x1,y1,x2,y2 (64x64 NHWC input pixels), score, class. The second row is the first
    # person again (IoU 0.90): NMS drops it. The third is a dog (COCO 16).
    det = np.array([[[8, 8, 40, 56, 0.85, 0],
                     [10, 9, 41, 57, 0.7, 0],
                     [20, 20, 60, 60, 0.5, 16]]], dtype=np.float32)
    nodes, inits = zero_from("images")
    outs = [const_output("detections", det, nodes, inits)]
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 64, 64, 3])
    model("centernet_like", [inp], outs, nodes, inits, out)


def ssd_like(out):
    # TF OD API: uint8 NHWC input of any size, normalised y1,x1,y2,x2 boxes, 1-based classes.
    nodes, inits = zero_from("image_tensor", as_uint8=True)
    outs = [
        const_output("detection_boxes", np.array([[[0.25, 0.125, 0.75, 0.5], [0, 0, 0.1, 0.1]]], dtype=np.float32), nodes, inits),
        const_output("detection_scores", np.array([[0.9, 0.3]], dtype=np.float32), nodes, inits),
        const_output("detection_classes", np.array([[1, 2]], dtype=np.float32), nodes, inits),
        const_output("num_detections", np.array([2], dtype=np.float32), nodes, inits),
    ]
    inp = helper.make_tensor_value_info("image_tensor", TensorProto.UINT8, [1, None, None, 3])
    model("ssd_like", [inp], outs, nodes, inits, out)


def no_decoder(out):
    nodes, inits = zero_from("input")
    outs = [const_output("y", np.zeros((1, 7), dtype=np.float32), nodes, inits)]
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 64])
    model("no_decoder", [inp], outs, nodes, inits, out)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for build in (rtmdet_end2end, rtmdet_heads, yolox_like, centernet_like, ssd_like, no_decoder):
        build(out)
    (out / "not_onnx.onnx").write_text("this is a text file, not an ONNX model\n")


if __name__ == "__main__":
    main()
