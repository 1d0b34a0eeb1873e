#!/usr/bin/env python3
"""Patch a TFJS graph-model JSON so that tf2onnx (1.17, TF 2.15) can load it.

Usage: patch_tfjs.py IN.json OUT.json

Two patches (see /work/shared/MODELS.md, CenterNet from @vladmandic/human):
  * nodes with op `_FusedConv2D`, `FusedDepthwiseConv2dNative` or `_FusedMatMul`
    that lack `TArgs` get `attr.TArgs = {"list": {"type": ["DT_FLOAT"] * num_args}}`;
  * `TopKV2` nodes get `attr.Tk = {"type": "DT_INT32"}` and
    `attr.index_type = {"type": "DT_INT32"}`.
Everything else (including the weightsManifest, which points at the .bin file
relative to the JSON) is copied unchanged. Output is deterministic.
"""
import json
import sys

FUSED_OPS = {"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul"}


def _num_args(attr):
    na = attr.get("num_args", {})
    # TFJS stores int attrs as {"i": "1"} (string) -- accept ints too.
    val = na.get("i", 0)
    return int(val)


def patch(model):
    fused = topk = 0
    nodes = model["modelTopology"]["node"]
    # functions (library) may hold nodes too; patch them as well if present
    lib = model["modelTopology"].get("library", {})
    for fn in lib.get("function", []) or []:
        nodes = nodes + fn.get("nodeDef", [])
    for node in nodes:
        op = node.get("op")
        attr = node.setdefault("attr", {})
        if op in FUSED_OPS and "TArgs" not in attr:
            attr["TArgs"] = {"list": {"type": ["DT_FLOAT"] * _num_args(attr)}}
            fused += 1
        elif op == "TopKV2":
            attr["Tk"] = {"type": "DT_INT32"}
            attr["index_type"] = {"type": "DT_INT32"}
            topk += 1
    return fused, topk


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], "r", encoding="utf-8") as f:
        model = json.load(f)
    fused, topk = patch(model)
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(model, f, sort_keys=False)
    print(f"patch_tfjs: {fused} fused-op nodes got TArgs, {topk} TopKV2 nodes got Tk/index_type")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
