#!/usr/bin/env python3
"""The plain Python loop a user would write instead of FESS: the comparison for the benchmarks.

OpenCV decodes the video (cv2.VideoCapture), each frame is resized and converted the way the
model wants (CenterNet: stretched to 512x512, RGB, float32 NHWC; YOLOX: letterboxed to the top
left with pad 114, BGR, float32 NCHW), onnxruntime runs it with N intra-op threads, the boxes
are decoded, filtered by score, cv2.dnn.NMSBoxes removes duplicates per class, and one JSON
event per frame (its objects) is serialised. Every frame is inferred.

Prints one line of JSON: frames, fps from the first frame's event to the last one's
((frames - 1) / elapsed, so model loading and the warm-up run are not counted), and the
objects found.

    python_loop.py --model yolox_nano.onnx --family yolox --video vtest.avi --frames 200
"""

import argparse
import json
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

SCORE = 0.4
IOU = 0.5


def centernet_pre(frame, size):
    img = cv2.resize(frame, (size[1], size[0]))
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img.astype(np.float32)[None], (size[1] / frame.shape[1], size[0] / frame.shape[0])


def centernet_boxes(outputs, names):
    # tower_0/detections: [1, 100, 6] = x1, y1, x2, y2, score, class in input pixels.
    det = outputs[names.index("tower_0/detections")][0]
    keep = det[:, 4] >= SCORE
    det = det[keep]
    return det[:, :4], det[:, 4], det[:, 5].astype(np.int64)


def yolox_pre(frame, size):
    h, w = frame.shape[:2]
    r = min(size[0] / h, size[1] / w)
    canvas = np.full((size[0], size[1], 3), 114, dtype=np.uint8)
    resized = cv2.resize(frame, (int(round(w * r)), int(round(h * r))))
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas.transpose(2, 0, 1)[None].astype(np.float32), (r, r)


GRIDS = {}


def yolox_grid(size):
    if size not in GRIDS:
        cells, strides = [], []
        for stride in (8, 16, 32):
            gh, gw = size[0] // stride, size[1] // stride
            ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
            cells.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
            strides.append(np.full((gh * gw, 1), stride))
        GRIDS[size] = (np.concatenate(cells).astype(np.float32),
                       np.concatenate(strides).astype(np.float32))
    return GRIDS[size]


def yolox_boxes(outputs, names, size):
    out = outputs[0][0]
    grid, stride = yolox_grid(size)
    cls = out[:, 5:].argmax(axis=1)
    score = out[:, 4] * out[np.arange(len(out)), 5 + cls]
    keep = score >= SCORE
    out, grid, stride, cls, score = out[keep], grid[keep], stride[keep], cls[keep], score[keep]
    cxy = (out[:, :2] + grid) * stride
    wh = np.exp(out[:, 2:4]) * stride
    return np.concatenate([cxy - wh / 2, cxy + wh / 2], axis=1), score, cls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--family", choices=["centernet", "yolox"], required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    session = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    names = [o.name for o in session.get_outputs()]
    if a.family == "centernet":
        size = (inp.shape[1], inp.shape[2])
    else:
        size = (inp.shape[2], inp.shape[3])

    cap = cv2.VideoCapture(a.video)
    if not cap.isOpened():
        sys.exit(f"python_loop: cannot open {a.video}")
    frames = objects = 0
    first = last = None
    sink = open("/dev/null", "w")
    while frames < a.frames:
        ok, frame = cap.read()
        if not ok:
            break
        if a.family == "centernet":
            tensor, (sx, sy) = centernet_pre(frame, size)
            outputs = session.run(None, {inp.name: tensor})
            boxes, scores, classes = centernet_boxes(outputs, names)
        else:
            tensor, (sx, sy) = yolox_pre(frame, size)
            outputs = session.run(None, {inp.name: tensor})
            boxes, scores, classes = yolox_boxes(outputs, names, size)
        boxes = boxes / np.array([sx, sy, sx, sy], dtype=np.float32)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        # Per class, as the element does: offset boxes by class so classes never overlap.
        shifted = xywh + (classes[:, None] * 4096.0) * np.array([1, 1, 0, 0])
        kept = cv2.dnn.NMSBoxes(shifted.tolist(), scores.tolist(), SCORE, IOU)
        kept = np.array(kept, dtype=np.int64).reshape(-1)
        event = {
            "frame": frames,
            "timestamp": time.time(),
            "objects": [
                {"class_id": int(classes[i]), "confidence": float(scores[i]),
                 "bbox": [float(v) for v in boxes[i]]}
                for i in kept
            ],
        }
        sink.write(json.dumps(event) + "\n")
        objects += len(kept)
        frames += 1
        now = time.perf_counter()
        first = first or now
        last = now
    fps = (frames - 1) / (last - first) if frames > 1 and last > first else 0.0
    print(json.dumps({"frames": frames, "fps": fps, "objects": objects}))


if __name__ == "__main__":
    main()
