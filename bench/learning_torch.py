"""PyTorch peer for bench/learning.py: trains a Backprop model spec on an IDX dataset the way
`backprop train` does, with Keras's conventions, and prints one JSON line with its test accuracy.

    python3 bench/learning_torch.py --data DIR --model SPEC --seed S [--epochs 5] [--batch-size 128]
        [--threads 2] [--validation-split 0.1]

The spec is Backprop's grammar for a plain chain (no named layers): conv32x3, batchnorm, relu,
maxpool2, flatten, dropout0.5, dense10, with an activation suffix (-relu, -softmax) allowed.
Everything else follows `backprop train` and Keras:
  - data: the IDX files' bytes / 255; the LAST --validation-split of the training set is held out
    (as Keras's validation_split; 54,000 / 6,000 for Fashion-MNIST), the test set is used once;
  - weights: Glorot-uniform kernels (nn.init.xavier_uniform_), zero biases, batch norm gamma 1 and
    beta 0, drawn from torch.manual_seed(seed);
  - batch norm: momentum 0.01 in PyTorch's terms (Keras's 0.99), eps 1e-3, normalising with the
    statistics of the whole batch (PyTorch's way; Backprop uses each microbatch's);
  - Adam: lr 1e-3, betas (0.9, 0.999), eps 1e-7; softmax cross-entropy from the logits, the mean
    over the batch;
  - each epoch visits the training samples in a new order from a generator seeded with the seed,
    in batches of --batch-size, the last one short; flatten is channels-last, as Keras's.

Output, one line: {"test_accuracy", "test_loss", "val_accuracy", "val_loss", "train_loss" (the last
epoch's mean over its batches, in training mode, as Keras and Backprop report it),
"test_accuracy_population", "test_loss_population", "epoch_seconds": [...], "torch": VERSION}.

The *_population figures are for a model with batch norm (null without): the test set evaluated with
each batch norm's mean and variance recomputed over the training samples (the current weights,
batches of 500, averaged) instead of its moving averages. Moving averages with momentum 0.99 hold
the statistics of the last hundred or so steps, whose weights differ from the final ones, and the
gap moves a run's test accuracy by up to a point from epoch to epoch and seed to seed; the
recomputed statistics take that noise out and show what the weights learnt.

    python3 bench/learning_torch.py --data DIR --checkpoint RUN_DIR/checkpoint.safetensors

evaluates a `backprop train` checkpoint of such a chain the same way (its spec from the file; its
kernels moved from Keras's layouts to PyTorch's) and prints the same line without the training
figures.
"""
import argparse
import copy
import gzip
import json
import os
import re
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    """An IDX file (raw or .gz) as a numpy array; checks the magic number and the length."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, kind, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
    body = data[4 + 4 * rank:]
    if len(body) != int(np.prod(dims)):
        raise SystemExit(f"{path}: {len(body)} bytes of data for dimensions {dims}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def find(directory, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise SystemExit(f"{directory}: no {stem} or {stem}.gz")


def load(directory, validation_split):
    def images(stem):
        x = read_idx(find(directory, stem))
        return torch.from_numpy(x.astype(np.float32) / 255).unsqueeze(1)  # (N, 1, H, W)

    def labels(stem):
        return torch.from_numpy(read_idx(find(directory, stem)).astype(np.int64))

    x, y = images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")
    kept = x.shape[0] - int(round(x.shape[0] * validation_split))  # the last ones are validation
    return (x[:kept], y[:kept]), (x[kept:], y[kept:]), \
        (images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))


class ChannelsLastFlatten(nn.Module):
    """Keras's Flatten on (N, H, W, C): the features in channels-last order."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).flatten(1)


def build(spec, shape):
    """The spec's layers as an nn.Sequential for (C, H, W) inputs; a final softmax is left to the loss."""
    channels, height, width = shape
    features = None
    layers = []
    tokens = spec.split(",")
    for i, token in enumerate(tokens):
        name, _, activation = token.partition("-")
        if m := re.fullmatch(r"conv(\d+)x(\d+)", name):
            filters, k = int(m[1]), int(m[2])
            layers.append(nn.Conv2d(channels, filters, k))
            channels, height, width = filters, height - k + 1, width - k + 1
        elif name == "batchnorm":
            layers.append(nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01) if features is None
                          else nn.BatchNorm1d(features, eps=1e-3, momentum=0.01))
        elif m := re.fullmatch(r"maxpool(\d+)", name):
            k = int(m[1])
            layers.append(nn.MaxPool2d(k))
            height, width = height // k, width // k
        elif name == "flatten":
            layers.append(ChannelsLastFlatten())
            features = channels * height * width
        elif m := re.fullmatch(r"dropout([0-9.]+)", name):
            layers.append(nn.Dropout(float(m[1])))
        elif m := re.fullmatch(r"dense(\d+)", name):
            layers.append(nn.Linear(features, int(m[1])))
            features = int(m[1])
        elif name in ("relu", "softmax"):
            activation = name
        else:
            raise SystemExit(f"learning_torch.py: layer {token!r} is not supported")
        if activation == "relu":
            layers.append(nn.ReLU())
        elif activation == "softmax" and i != len(tokens) - 1:
            raise SystemExit("learning_torch.py: softmax only as the last layer (it is folded into the loss)")
        elif activation not in ("", "relu", "softmax"):
            raise SystemExit(f"learning_torch.py: activation {activation!r} is not supported")
    model = nn.Sequential(*layers)
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return model


def evaluate(model, x, y, batch=1000):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            logits = model(x[s:s + batch])
            loss += F.cross_entropy(logits, y[s:s + batch], reduction="sum").item()
            correct += (logits.argmax(1) == y[s:s + batch]).sum().item()
    return loss / x.shape[0], correct / x.shape[0]


def population(model, x, batch=500):
    """A copy of model whose batch norms hold their statistics over x, with the current weights."""
    model = copy.deepcopy(model)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return None
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches
    model.train()
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            model(x[s:s + batch])
    return model


def evaluations(model, x, tx, ty):
    loss, accuracy = evaluate(model, tx, ty)
    recomputed = population(model, x)
    loss_p, accuracy_p = evaluate(recomputed, tx, ty) if recomputed else (None, None)
    return {"test_accuracy": accuracy, "test_loss": loss,
            "test_accuracy_population": accuracy_p, "test_loss_population": loss_p}


def read_checkpoint(path):
    """(model spec, {name: tensor}) of a backprop-checkpoint safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    meta = header.pop("__metadata__", {})
    if meta.get("format") != "backprop-checkpoint":
        raise SystemExit(f"{path}: not a Backprop checkpoint")
    tensors = {}
    for name, v in header.items():
        if v["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {v['dtype']}, not F32")
        a, b = v["data_offsets"]
        tensors[name] = torch.from_numpy(
            np.frombuffer(data[8 + size + a:8 + size + b], dtype="<f4").reshape(v["shape"]).copy())
    return meta["model"], tensors


def load_checkpoint(model, tensors):
    """Copies Backprop's layers (kind_index.name, in the spec's order) into model's, Keras's layouts to PyTorch's."""
    layers = sorted({n.split(".")[0] for n in tensors if not n.startswith("optimizer.")},
                    key=lambda n: int(n.rsplit("_", 1)[1]))
    mine = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm))]
    kinds = {nn.Conv2d: "conv2d", nn.Linear: "dense", nn.BatchNorm2d: "batch_normalization",
             nn.BatchNorm1d: "batch_normalization"}
    if [kinds[type(m)] for m in mine] != [n.rsplit("_", 1)[0] for n in layers]:
        raise SystemExit(f"checkpoint layers {layers} do not match the model's")
    with torch.no_grad():
        for m, name in zip(mine, layers):
            t = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".")[0] == name}
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(t["kernel"].permute(3, 2, 0, 1))  # (k, k, C, F) -> (F, C, k, k)
                m.bias.copy_(t["bias"])
            elif isinstance(m, nn.Linear):
                m.weight.copy_(t["kernel"].T)  # (in, out) -> (out, in)
                m.bias.copy_(t["bias"])
            else:
                m.weight.copy_(t["gamma"])
                m.bias.copy_(t["beta"])
                m.running_mean.copy_(t["moving_mean"])
                m.running_var.copy_(t["moving_variance"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="directory of IDX files (MNIST layout, raw or .gz)")
    p.add_argument("--model", help="a Backprop model spec (a plain chain)")
    p.add_argument("--checkpoint", help="evaluate this backprop train checkpoint instead of training")
    p.add_argument("--seed", type=int, help="seeds the initial weights, the sample order and dropout")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=128, help="samples per optimiser step")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--validation-split", type=float, default=0.1, help="fraction held out from the end")
    a = p.parse_args()
    if a.checkpoint is None and (a.model is None or a.seed is None):
        p.error("give --model and --seed to train, or --checkpoint to evaluate")

    torch.set_num_threads(a.threads)
    (x, y), (vx, vy), (tx, ty) = load(a.data, a.validation_split)
    if a.checkpoint:
        spec, tensors = read_checkpoint(a.checkpoint)
        model = build(spec, tuple(x.shape[1:]))
        load_checkpoint(model, tensors)
        print(json.dumps(evaluations(model, x, tx, ty) | {"torch": torch.__version__}))
        return

    torch.manual_seed(a.seed)
    model = build(a.model, tuple(x.shape[1:]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    order = torch.Generator().manual_seed(a.seed)
    seconds = []
    for _ in range(a.epochs):
        start = time.perf_counter()
        model.train()
        perm = torch.randperm(x.shape[0], generator=order)
        loss_sum = 0.0
        for s in range(0, x.shape[0], a.batch_size):
            idx = perm[s:s + a.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item() * idx.shape[0]
        seconds.append(time.perf_counter() - start)
    val_loss, val_accuracy = evaluate(model, vx, vy)
    print(json.dumps({"val_accuracy": val_accuracy, "val_loss": val_loss, "train_loss": loss_sum / x.shape[0]}
                     | evaluations(model, x, tx, ty) | {"epoch_seconds": seconds, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
