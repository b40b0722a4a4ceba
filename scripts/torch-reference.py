#!/usr/bin/env python3
"""Computes layers in float64 with PyTorch, as a reference for Backprop's layer tests.

Usage: torch-reference.py CASE.json RESULT.json
       torch-reference.py --serve

CASE.json holds one case or a JSON array of cases; RESULT.json gets its result or the
array of their results, in order. With --serve the script writes one line,
{"ready": TORCH_VERSION}, once torch is imported, then reads one case per line on stdin
and answers each with one line on stdout, its result or {"error": MESSAGE}, until stdin
ends: one torch import for as many cases as a test process has.

Every tensor in cases and results is a flat list in Keras's layout, channels last: an input is
(N, H, W, C) or (N, features), a conv kernel (k, k, C, F), a dense kernel (in, units).

The case holds:
  layer        {"kind": ..., options}: the kinds below
  batch        N
  input_shape  one sample's shape, without N
  x            the input; x2 the second input (add only); mask the 0/1 keep mask (dropout only)
  params       the layer's tensors concatenated in the order of its parameter list
  upstream     d objective / d output, laid out as the output; the objective is sum(output * upstream)

The result holds output, output_shape (one sample's, without N), input_gradient,
input2_gradient (add only), param_gradients (laid out as params) and, for
batch_normalization in training, batch_mean and batch_variance (biased).

Kinds: options (default); parameters in params' order, Keras names and layouts.
  conv2d               filters, kernel, stride (1), padding ("valid"), use_bias (true); kernel (k,k,C,F), bias (F)
  depthwise_conv2d     kernel, stride (1), padding ("valid"), use_bias (true); depthwise_kernel (k,k,C,1), bias (C)
  separable_conv2d     filters, kernel, stride (1), padding ("valid");
                       depthwise_kernel (k,k,C,1), pointwise_kernel (1,1,C,F), bias (F)
  batch_normalization  epsilon (1e-3), training (false); gamma, beta, moving_mean, moving_variance (C each).
                       Normalises over every axis but the last; the moving statistics' gradient slots are 0.
  dropout              rate, and the case's mask: output = x * mask / (1 - rate)
  max_pooling2d        pool, stride (pool), padding ("valid")
  average_pooling2d    pool, stride (pool), padding ("valid"); `same` divides by each window's real values
  dense                units; kernel (in, units), bias (units)
  global_average_pooling2d, add, relu, sigmoid, softmax (last axis), flatten: no options
"same" pads as TensorFlow: out = ceil(in / stride), the odd extra row or column after.

A case this script cannot compute (an unknown kind, a missing option, a tensor of the
wrong length) exits 2 with one line on stderr; with --serve it is answered {"error": ...}
and the script goes on to the next line.
"""

import json
import math
import sys

import torch
import torch.nn.functional as F


class CaseError(Exception):
    """A case this script cannot compute; its message is one line."""


def tf_padding(size, window, stride, padding):
    """(before, after, out) along one axis, as TensorFlow pads: the odd extra goes after."""
    if padding == "valid":
        if size < window:
            raise CaseError(f"window {window} is larger than the input ({size}) with valid padding")
        return 0, 0, (size - window) // stride + 1
    if padding == "same":
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + window - size, 0)
        return total // 2, total - total // 2, out
    raise CaseError(f"padding must be \"valid\" or \"same\", got {padding!r}")


def option(layer, name, default=None):
    if name in layer:
        return layer[name]
    if default is None:
        raise CaseError(f"{layer['kind']} needs the option {name!r}")
    return default


def image_shape(input_shape, kind):
    if len(input_shape) != 3:
        raise CaseError(f"{kind} needs an image input (H, W, C), got {input_shape}")
    return input_shape


# MARK: - Parameter lists: (name, shape) in the order the flat params hold them


def conv2d_params(layer, input_shape):
    _, _, c = image_shape(input_shape, "conv2d")
    k, f = option(layer, "kernel"), option(layer, "filters")
    return [("kernel", (k, k, c, f))] + ([("bias", (f,))] if option(layer, "use_bias", True) else [])


def depthwise_params(layer, input_shape):
    _, _, c = image_shape(input_shape, "depthwise_conv2d")
    k = option(layer, "kernel")
    return [("depthwise_kernel", (k, k, c, 1))] + ([("bias", (c,))] if option(layer, "use_bias", True) else [])


def separable_params(layer, input_shape):
    _, _, c = image_shape(input_shape, "separable_conv2d")
    k, f = option(layer, "kernel"), option(layer, "filters")
    return [("depthwise_kernel", (k, k, c, 1)), ("pointwise_kernel", (1, 1, c, f)), ("bias", (f,))]


def batch_norm_params(layer, input_shape):
    c = input_shape[-1]
    return [(name, (c,)) for name in ("gamma", "beta", "moving_mean", "moving_variance")]


def dense_params(layer, input_shape):
    if len(input_shape) != 1:
        raise CaseError(f"dense needs a flat input (features,), got {input_shape}")
    units = option(layer, "units")
    return [("kernel", (input_shape[0], units)), ("bias", (units,))]


def no_params(layer, input_shape):
    return []


# MARK: - Forward passes in PyTorch: x is (N, *input_shape) channels last, p maps names to tensors in Keras layouts


def nchw(x):
    return x.permute(0, 3, 1, 2)


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def pad_tf(x, window, stride, padding, value=0.0):
    """x: (N, C, H, W), padded as TensorFlow's `same` pads (nothing for `valid`)."""
    top, bottom, _ = tf_padding(x.shape[2], window, stride, padding)
    left, right, _ = tf_padding(x.shape[3], window, stride, padding)
    return F.pad(x, (left, right, top, bottom), value=value)


def conv2d(layer, x, p, extras):
    k, stride, padding = option(layer, "kernel"), option(layer, "stride", 1), option(layer, "padding", "valid")
    weight = p["kernel"].permute(3, 2, 0, 1)  # HWIO -> OIHW
    y = F.conv2d(pad_tf(nchw(x), k, stride, padding), weight, p.get("bias"), stride=stride)
    return nhwc(y)


def depthwise_conv2d(layer, x, p, extras):
    k, stride, padding = option(layer, "kernel"), option(layer, "stride", 1), option(layer, "padding", "valid")
    channels = x.shape[3]
    weight = p["depthwise_kernel"].permute(2, 3, 0, 1)  # (k, k, C, 1) -> (C, 1, k, k)
    y = F.conv2d(pad_tf(nchw(x), k, stride, padding), weight, p.get("bias"), stride=stride, groups=channels)
    return nhwc(y)


def separable_conv2d(layer, x, p, extras):
    k, stride, padding = option(layer, "kernel"), option(layer, "stride", 1), option(layer, "padding", "valid")
    channels = x.shape[3]
    depthwise = p["depthwise_kernel"].permute(2, 3, 0, 1)  # (k, k, C, 1) -> (C, 1, k, k)
    pointwise = p["pointwise_kernel"].permute(3, 2, 0, 1)  # (1, 1, C, F) -> (F, C, 1, 1)
    h = F.conv2d(pad_tf(nchw(x), k, stride, padding), depthwise, None, stride=stride, groups=channels)
    return nhwc(F.conv2d(h, pointwise, p["bias"]))


def batch_normalization(layer, x, p, extras):
    epsilon, training = option(layer, "epsilon", 1e-3), option(layer, "training", False)
    if not isinstance(training, bool):
        raise CaseError(f"batch_normalization's training must be true or false, got {training!r}")
    channels = x.shape[-1]
    rows = x.reshape(-1, channels)  # every axis but the channels folded into one: (M, C)
    if training:
        extras["batch_mean"] = rows.mean(dim=0)
        extras["batch_variance"] = rows.var(dim=0, unbiased=False)
        # No running buffers: Keras's moving update is the caller's, from batch_mean and batch_variance.
        y = F.batch_norm(rows, None, None, p["gamma"], p["beta"], training=True, eps=epsilon)
    else:
        y = F.batch_norm(rows, p["moving_mean"], p["moving_variance"], p["gamma"], p["beta"], training=False, eps=epsilon)
    return y.reshape(x.shape)


def dropout(layer, x, p, extras):
    rate = option(layer, "rate")
    if not 0 <= rate < 1:
        raise CaseError(f"dropout's rate must be in [0, 1), got {rate}")
    return x * extras["mask"] / (1 - rate)


def max_pooling2d(layer, x, p, extras):
    pool = option(layer, "pool")
    stride, padding = option(layer, "stride", pool), option(layer, "padding", "valid")
    # Padding with -inf never wins: every TensorFlow `same` window holds at least one real value.
    return nhwc(F.max_pool2d(pad_tf(nchw(x), pool, stride, padding, value=-math.inf), pool, stride))


def average_pooling2d(layer, x, p, extras):
    pool = option(layer, "pool")
    stride, padding = option(layer, "stride", pool), option(layer, "padding", "valid")
    sums = F.avg_pool2d(pad_tf(nchw(x), pool, stride, padding), pool, stride, divisor_override=1)
    # TensorFlow divides each window by the number of real (unpadded) values in it.
    ones = torch.ones_like(nchw(x)[:1, :1])
    counts = F.avg_pool2d(pad_tf(ones, pool, stride, padding), pool, stride, divisor_override=1)
    return nhwc(sums / counts)


def global_average_pooling2d(layer, x, p, extras):
    return x.mean(dim=(1, 2))


def add(layer, x, p, extras):
    return x + extras["x2"]


def dense(layer, x, p, extras):
    return F.linear(x, p["kernel"].t(), p["bias"])  # Linear's weight is (units, in)


def flatten(layer, x, p, extras):
    return x.reshape(x.shape[0], -1)  # channels-last order, as Keras flattens


KINDS = {
    "conv2d": (conv2d_params, conv2d),
    "depthwise_conv2d": (depthwise_params, depthwise_conv2d),
    "separable_conv2d": (separable_params, separable_conv2d),
    "batch_normalization": (batch_norm_params, batch_normalization),
    "dropout": (no_params, dropout),
    "max_pooling2d": (no_params, max_pooling2d),
    "average_pooling2d": (no_params, average_pooling2d),
    "global_average_pooling2d": (no_params, global_average_pooling2d),
    "add": (no_params, add),
    "dense": (dense_params, dense),
    "relu": (no_params, lambda layer, x, p, extras: F.relu(x)),
    "sigmoid": (no_params, lambda layer, x, p, extras: torch.sigmoid(x)),
    "softmax": (no_params, lambda layer, x, p, extras: F.softmax(x, dim=-1)),
    "flatten": (no_params, flatten),
}

# Parameters Keras does not train: no gradient is taken, and their slots in param_gradients are zeros.
NOT_TRAINED = {"moving_mean", "moving_variance"}


# MARK: - Reading the case, writing the result


def tensor(values, shape, name):
    if not isinstance(values, list) or len(values) != math.prod(shape):
        count = len(values) if isinstance(values, list) else type(values).__name__
        raise CaseError(f"{name} has {count} values, expected {math.prod(shape)} for shape {tuple(shape)}")
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def compute(case):
    if not isinstance(case, dict):
        raise CaseError(f"a case is a JSON object, got {type(case).__name__}")
    layer = case.get("layer")
    if not isinstance(layer, dict) or "kind" not in layer:
        raise CaseError("the case needs a \"layer\" object with a \"kind\"")
    kind = layer["kind"]
    if kind not in KINDS:
        raise CaseError(f"unknown layer kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    for key in ("batch", "input_shape", "x", "params", "upstream"):
        if key not in case:
            raise CaseError(f"the case has no {key!r}")
    parameter_list, forward = KINDS[kind]
    batch, input_shape = case["batch"], list(case["input_shape"])
    shape = [batch] + input_shape

    x = tensor(case["x"], shape, "x").requires_grad_()
    specs = parameter_list(layer, input_shape)
    flat = case["params"]
    expected = sum(math.prod(s) for _, s in specs)
    if len(flat) != expected:
        raise CaseError(f"params has {len(flat)} values, expected {expected} for {', '.join(n + str(s) for n, s in specs) or 'none'}")
    params, offset = {}, 0
    for name, s in specs:
        params[name] = tensor(flat[offset:offset + math.prod(s)], s, name).requires_grad_(name not in NOT_TRAINED)
        offset += math.prod(s)

    extras = {}
    if kind == "add":
        extras["x2"] = tensor(case.get("x2"), shape, "x2").requires_grad_()
    if kind == "dropout":
        extras["mask"] = tensor(case.get("mask"), shape, "mask")

    y = forward(layer, x, params, extras)
    upstream = tensor(case["upstream"], y.shape, "upstream")
    (y * upstream).sum().backward()

    def flat_list(t):
        return t.detach().reshape(-1).tolist()

    def gradient(t):
        return flat_list(t.grad) if t.grad is not None else [0.0] * t.numel()

    result = {
        "output": flat_list(y),
        "output_shape": list(y.shape[1:]),
        "input_gradient": gradient(x),
        "param_gradients": [v for t in params.values() for v in gradient(t)],
    }
    if "x2" in extras:
        result["input2_gradient"] = gradient(extras["x2"])
    for name in ("batch_mean", "batch_variance"):
        if name in extras:
            result[name] = flat_list(extras[name])
    return result


def serve(requests, replies):
    """One result (or {"error": ...}) per line of `requests`, each written and flushed before the next is read."""
    print(json.dumps({"ready": torch.__version__}), file=replies, flush=True)
    for line in requests:
        if not line.strip():
            continue
        try:
            reply = compute(json.loads(line))
        except (CaseError, ValueError) as error:  # json.JSONDecodeError is a ValueError
            reply = {"error": str(error).replace("\n", " ")}
        print(json.dumps(reply), file=replies, flush=True)
    return 0


def main():
    torch.set_num_threads(1)
    if sys.argv[1:] == ["--serve"]:
        return serve(sys.stdin, sys.stdout)
    if len(sys.argv) != 3:
        print("usage: torch-reference.py CASE.json RESULT.json | --serve", file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1]) as f:
            cases = json.load(f)
        if isinstance(cases, list):
            results = []
            for index, case in enumerate(cases):
                try:
                    results.append(compute(case))
                except CaseError as error:
                    raise CaseError(f"case {index}: {error}") from None
        else:
            results = compute(cases)
    except (CaseError, OSError, ValueError) as error:
        print(f"torch-reference: {error}", file=sys.stderr)
        return 2
    with open(sys.argv[2], "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
