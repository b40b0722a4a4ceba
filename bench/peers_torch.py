"""PyTorch eager peer for scripts/bench --peers.

Trains Backprop's seed-cnn and mnist-cnn, layer for layer, on a fixed in-memory tensor
dataset of random 28x28x1 images (float32 in [0, 1]); the content does not matter for speed.
Times full epochs of training steps after a short warm-up (the best of 2, to favour PyTorch) and prints one line per run:

    torch <model> <batch> <threads> <samples_per_second>

or, with --ddp, PyTorch DDP (gloo, 2 processes, one thread each, global batch --global-batch):

    ddp <model> <global_batch> 2 <samples_per_second>

The batches are contiguous slices of the in-memory tensors (no DataLoader, no per-step
gather), the cheapest way to feed PyTorch, so these are its best figures.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn


def make_model(name):
    outputs = {"seed-cnn": 1, "mnist-cnn": 10}[name]
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5408, outputs)
    )
    # The final sigmoid / softmax is folded into the loss, as Backprop computes its
    # cross-entropies from the logits.
    loss = nn.BCEWithLogitsLoss() if outputs == 1 else nn.CrossEntropyLoss()
    return model, loss


def make_data(name, samples, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(samples, 1, 28, 28, generator=g, dtype=torch.float32)
    if name == "seed-cnn":
        y = torch.randint(0, 2, (samples, 1), generator=g).float()
    else:
        y = torch.randint(0, 10, (samples,), generator=g)
    return x, y


def epoch_rate(model, loss_fn, opt, x, y, batch, warmup, step_fn=None, epochs=2):
    samples = x.shape[0]
    starts = list(range(0, samples, batch))

    def step(s):
        opt.zero_grad(set_to_none=True)
        out = model(x[s:s + batch])
        loss = loss_fn(out, y[s:s + batch])
        loss.backward()
        opt.step()

    for i in range(warmup):
        step(starts[i % len(starts)])
    if step_fn:
        step_fn()
    best = 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        for s in starts:
            step(s)
        if step_fn:
            step_fn()
        best = max(best, samples / (time.perf_counter() - t0))
    return best


def run_eager(args):
    torch.manual_seed(1)
    torch.set_num_threads(args.threads)
    for name in args.models:
        x, y = make_data(name, args.samples)
        for batch in args.batches:
            model, loss_fn = make_model(name)
            opt = torch.optim.Adam(model.parameters(), lr=0.001)
            rate = epoch_rate(model, loss_fn, opt, x, y, batch, args.warmup)
            print(f"torch {name} {batch} {args.threads} {rate:.0f}", flush=True)


def ddp_worker(rank, args, port, queue):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(1)
    name = args.models[0]
    local = args.global_batch // 2
    # Each process trains on its own half of the epoch's samples.
    x, y = make_data(name, args.samples // 2, seed=rank)
    model, loss_fn = make_model(name)
    model = DDP(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    rate = epoch_rate(model, loss_fn, opt, x, y, local, args.warmup, step_fn=dist.barrier)
    if rank == 0:
        queue.put(rate * 2)  # both processes' samples in the same wall time
    dist.destroy_process_group()


def run_ddp(args):
    import socket
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=ddp_worker, args=(r, args, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    rate = queue.get(timeout=120)
    for p in procs:
        p.join()
    print(f"ddp {args.models[0]} {args.global_batch} 2 {rate:.0f}", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", default=["seed-cnn", "mnist-cnn"])
    p.add_argument("--batches", nargs="+", type=int, default=[32, 128])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--samples", type=int, default=6000)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--ddp", action="store_true")
    p.add_argument("--global-batch", type=int, default=64)
    args = p.parse_args()
    if args.ddp:
        run_ddp(args)
    else:
        run_eager(args)


if __name__ == "__main__":
    sys.exit(main())
