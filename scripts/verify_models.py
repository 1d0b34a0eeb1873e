#!/usr/bin/env python3
"""Verify the prepared FESS models (run by scripts/setup.sh with the $FESS_VENV python).

  verify_models.py MODELS_DIR MEDIA_DIR ORT_DYLIB_PATH

* loads libonnxruntime.so.* with ctypes and prints its version (the library `ort` will use);
* loads every model with onnxruntime and prints input/output names, shapes and dtypes;
* YOLOX-Nano must find a person (score > 0.8), a dog and a horse on person.jpg (BGR 0..255,
  NCHW, letterboxed to the top-left with 114, decoded from its raw grid rows);
* CenterNet must find a person (class 0, score > 0.5) on person.jpg
  (NHWC RGB 0..255 float32, image resized to 512x512, bilinear);
* quick sanity runs: SSDLite finds a person on person.jpg, RetinaFace finds a face on
  messi5.jpg, MobileFaceNet runs with batch 1 and 2.
Exits non-zero on any failure. Takes a few seconds.
"""
import ctypes
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

MODELS = ["yolox_nano.onnx", "centernet.onnx", "retinaface_mnet025.onnx", "mobilefacenet.onnx", "ssdlite_person.onnx"]
failures = []


def log(msg):
    print(f"[verify] {msg}", flush=True)


def fail(msg):
    failures.append(msg)
    print(f"[verify] FAIL: {msg}", flush=True)


def ort_lib_version(path):
    class OrtApiBase(ctypes.Structure):
        _fields_ = [("GetApi", ctypes.c_void_p), ("GetVersionString", ctypes.CFUNCTYPE(ctypes.c_char_p))]

    lib = ctypes.CDLL(path)
    lib.OrtGetApiBase.restype = ctypes.POINTER(OrtApiBase)
    return lib.OrtGetApiBase().contents.GetVersionString().decode()


def io_desc(args):
    out = []
    for a in args:
        dtype = a.type.replace("tensor(", "").rstrip(")")
        dtype = {"float": "float32", "double": "float64"}.get(dtype, dtype)
        out.append(f"{a.name} {list(a.shape)} {dtype}")
    return ", ".join(out)


def load_rgb(path):
    return Image.open(path).convert("RGB")


def check_centernet(s, media):
    img = load_rgb(os.path.join(media, "person.jpg"))
    x = np.asarray(img.resize((512, 512), Image.BILINEAR), dtype=np.float32)[None]
    t = time.time()
    det = s.run(["tower_0/detections"], {"tower_0/images:0": x})[0][0]
    dt = (time.time() - t) * 1000
    persons = det[(det[:, 5] == 0) & (det[:, 4] > 0.5)]
    top = ", ".join(f"cls{int(d[5])}:{d[4]:.3f}" for d in det[:4])
    if len(persons):
        p = persons[0]
        log(f"centernet person.jpg: person score {p[4]:.3f} box(512px) "
            f"[{p[0]:.1f},{p[1]:.1f},{p[2]:.1f},{p[3]:.1f}]  (top4: {top}; {dt:.0f} ms)")
    else:
        fail(f"centernet found no person (class 0, score > 0.5) on person.jpg; top4: {top}")


def yolox_decode(out, size, threshold=0.3):
    """YOLOX raw heads [N,5+C] for a size x size input -> rows (score, class, x1, y1, x2, y2)."""
    rows, cells = [], []
    for s in (8, 16, 32):
        n = size // s
        ys, xs = np.mgrid[0:n, 0:n]
        cells.append(np.stack([xs.ravel(), ys.ravel(), np.full(n * n, s)], axis=1))
    cells = np.concatenate(cells).astype(np.float32)
    cx = (out[:, 0] + cells[:, 0]) * cells[:, 2]
    cy = (out[:, 1] + cells[:, 1]) * cells[:, 2]
    w, h = np.exp(out[:, 2]) * cells[:, 2], np.exp(out[:, 3]) * cells[:, 2]
    scores = out[:, 4:5] * out[:, 5:]
    cls = scores.argmax(1)
    best = scores.max(1)
    for i in np.argsort(-best):
        if best[i] < threshold:
            break
        rows.append((float(best[i]), int(cls[i]), cx[i] - w[i] / 2, cy[i] - h[i] / 2, cx[i] + w[i] / 2, cy[i] + h[i] / 2))
    return rows


def check_yolox(s, media):
    # BGR, 0..255, NCHW, letterboxed to the top-left with 114 (scale r), no normalisation.
    img = load_rgb(os.path.join(media, "person.jpg"))
    size = s.get_inputs()[0].shape[2]
    r = min(size / img.height, size / img.width)
    nw, nh = round(img.width * r), round(img.height * r)
    canvas = np.full((size, size, 3), 114, np.float32)
    canvas[:nh, :nw] = np.asarray(img.resize((nw, nh), Image.BILINEAR), dtype=np.float32)[:, :, ::-1]
    t = time.time()
    out = s.run(None, {s.get_inputs()[0].name: canvas.transpose(2, 0, 1)[None].copy()})[0][0]
    dt = (time.time() - t) * 1000
    found = yolox_decode(out, size)
    persons = [d for d in found if d[1] == 0]
    classes = {d[1] for d in found if d[0] > 0.5}
    if persons and persons[0][0] > 0.8 and {0, 16, 17} <= classes:
        p = persons[0]
        log(f"yolox_nano person.jpg: person {p[0]:.3f} box(frame px) "
            f"[{p[2] / r:.0f},{p[3] / r:.0f},{p[4] / r:.0f},{p[5] / r:.0f}], dog and horse found ({dt:.0f} ms)")
    else:
        fail(f"yolox_nano: expected a person > 0.8, a dog and a horse on person.jpg; "
             f"found {[(round(d[0], 3), d[1]) for d in found[:6]]}")


def check_ssd(s, media):
    img = np.asarray(load_rgb(os.path.join(media, "person.jpg")), dtype=np.uint8)[None]
    n, boxes, scores, classes = s.run(
        ["num_detections:0", "detection_boxes:0", "detection_scores:0", "detection_classes:0"],
        {"image_tensor:0": img})
    best = float(scores[0][0]) if int(n[0]) > 0 else 0.0
    if best > 0.5:
        log(f"ssdlite_person person.jpg: {int(n[0])} detections, best score {best:.3f} "
            f"class {int(classes[0][0])} box(y1,x1,y2,x2 norm) {np.round(boxes[0][0], 3).tolist()}")
    else:
        fail(f"ssdlite_person: no person > 0.5 on person.jpg (best {best:.3f})")


def check_retinaface(s, media):
    rgb = np.asarray(load_rgb(os.path.join(media, "messi5.jpg")), dtype=np.float32)
    x = (rgb[..., ::-1] - np.array([104, 117, 127], np.float32)).transpose(2, 0, 1)[None].copy()
    loc, conf, _ = s.run(["loc", "conf", "landmarks"], {"input": x})
    best = float(conf[0, :, 1].max())
    if best > 0.9:
        log(f"retinaface messi5.jpg: best face score {best:.3f} ({conf.shape[1]} priors)")
    else:
        fail(f"retinaface: no face > 0.9 on messi5.jpg (best {best:.3f})")


def check_mobilefacenet(s, media):
    i = s.get_inputs()[0]
    img = load_rgb(os.path.join(media, "messi5.jpg")).resize((112, 112), Image.BILINEAR)
    x = ((np.asarray(img, dtype=np.float32) - 127.5) / 128.0)[None]
    e1 = s.run(None, {i.name: x})[0]
    e2 = s.run(None, {i.name: np.concatenate([x, x[:, :, ::-1]])})[0]
    if e1.shape == (1, 192) and e2.shape == (2, 192) and np.allclose(e1[0], e2[0], atol=1e-4):
        log(f"mobilefacenet: batch 1 -> {list(e1.shape)}, batch 2 -> {list(e2.shape)}, "
            f"L2 norm {np.linalg.norm(e1[0]):.3f} (not normalised)")
    else:
        fail(f"mobilefacenet: unexpected output shapes {e1.shape} {e2.shape}")


CHECKS = {
    "yolox_nano.onnx": check_yolox,
    "centernet.onnx": check_centernet,
    "ssdlite_person.onnx": check_ssd,
    "retinaface_mnet025.onnx": check_retinaface,
    "mobilefacenet.onnx": check_mobilefacenet,
}


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    models, media, dylib = argv[1:]
    try:
        log(f"{os.path.basename(dylib)}: ONNX Runtime {ort_lib_version(dylib)} (python onnxruntime {ort.__version__})")
    except OSError as e:
        fail(f"cannot load {dylib}: {e}")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    for name in MODELS:
        path = os.path.join(models, name)
        try:
            s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            fail(f"{name}: cannot load: {e}")
            continue
        log(f"{name}: in: {io_desc(s.get_inputs())}")
        log(f"{name}: out: {io_desc(s.get_outputs())}")
        try:
            CHECKS[name](s, media)
        except Exception as e:  # noqa: BLE001
            fail(f"{name}: check raised {type(e).__name__}: {e}")
    if failures:
        log(f"{len(failures)} check(s) failed")
        return 1
    log("all models OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
