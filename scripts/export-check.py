#!/usr/bin/env python3
"""Checks `backprop export` against `backprop predict --json` on the same image files.

Usage: export-check.py PREDICTIONS.jsonl [--onnx FILE] [--pytorch DIR]

PREDICTIONS.jsonl is predict's output (one object per image, with `file` and `outputs`). Each image is
read with Pillow as predict decodes it (it must already be the model's size, so nothing is resized),
scaled to [0, 1], and run through onnxruntime (after onnx.checker) and/or the exported torch.nn.Module.
Prints the largest difference from Backprop's outputs for each and exits 1 if one exceeds 1e-5.
"""
import json
import sys

import numpy as np
from PIL import Image


def main():
    args = sys.argv[1:]
    predictions = [json.loads(line) for line in open(args[0]) if line.strip()]
    onnx_path = args[args.index("--onnx") + 1] if "--onnx" in args else None
    torch_dir = args[args.index("--pytorch") + 1] if "--pytorch" in args else None
    expected = np.array([p["outputs"] for p in predictions], dtype=np.float64)
    worst = 0.0
    if onnx_path:
        import onnx
        import onnxruntime
        model = onnx.load(onnx_path)
        onnx.checker.check_model(model, full_check=True)
        session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        shape = session.get_inputs()[0].shape  # [N, H, W, C]
        images = np.stack([load(p["file"], shape[3]) for p in predictions])
        got = session.run(None, {session.get_inputs()[0].name: images})[0]
        difference = float(np.abs(got - expected).max())
        print(f"onnxruntime: largest difference {difference:.3g} over {len(predictions)} images")
        worst = max(worst, difference)
    if torch_dir:
        import safetensors.torch
        import torch
        sys.path.insert(0, torch_dir)
        from model import BackpropModel
        module = BackpropModel()
        module.load_state_dict(safetensors.torch.load_file(f"{torch_dir}/model.safetensors"))
        module.eval()
        channels = module_channels(predictions)
        images = np.stack([load(p["file"], channels) for p in predictions]).transpose(0, 3, 1, 2)
        with torch.no_grad():
            got = module(torch.from_numpy(np.ascontiguousarray(images))).numpy()
        difference = float(np.abs(got - expected).max())
        print(f"pytorch: largest difference {difference:.3g} over {len(predictions)} images")
        worst = max(worst, difference)
    if worst > 1e-5:
        print(f"export-check: a difference of {worst:.3g} is above 1e-5", file=sys.stderr)
        sys.exit(1)


def module_channels(predictions):
    return 3 if Image.open(predictions[0]["file"]).mode == "RGB" else 1


def load(path, channels):
    image = Image.open(path).convert("RGB" if channels == 3 else "L")
    pixels = np.asarray(image, dtype=np.float32) / 255
    return pixels.reshape(pixels.shape[0], pixels.shape[1], channels)


if __name__ == "__main__":
    main()
