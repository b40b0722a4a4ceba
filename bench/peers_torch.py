"""PyTorch peer for scripts/bench --peers.

Trains Backprop's seed-cnn, mnist-cnn and large-cnn, layer for layer, on a fixed in-memory
tensor dataset of random 28x28x1 images (float32 in [0, 1]); the content does not matter for
speed. Times full epochs of training steps after a short warm-up (the best of 2, to favour
PyTorch) and prints one line per run:

    torch <model> <batch> <threads> <samples_per_second> <peak_rss_kb>

with --compile the model goes through torch.compile (static shapes) first, the lines start
`compiled`, and a short last batch is left out of each epoch so that only one batch shape is
compiled (here torch.compile trained these models more slowly than eager; it is measured
anyway, as a peer's other way to run);
with --ddp, PyTorch DDP (gloo, --procs processes, one thread each, global batch --global-batch):

    ddp <model> <global_batch> <procs> <samples_per_second> <largest_rank_peak_rss_kb>

with --folder DIR, the model trains from a folder of image files, one subfolder per class, read as
torchvision's documentation shows: `datasets.ImageFolder` (Pillow decodes each file, converted to
grayscale and resized to 28x28, bilinear) and a shuffling `DataLoader` with --workers worker
processes, kept between epochs. Every epoch decodes every file again (ImageFolder caches nothing);
the first epoch's seconds count from the ImageFolder's construction, which lists the files:

    folder <model> <batch> <threads> <samples> <first_epoch_seconds> <best_later_epoch_seconds>

Peak RSS is the process's own (getrusage ru_maxrss) at the end of its runs, so an eager
process that trains several models and batches reports the peak over all of them.

Outside --folder, the batches are contiguous slices of the in-memory tensors (no DataLoader, no
per-step gather), the cheapest way to feed PyTorch, so these are its best figures.
"""
import argparse
import os
import resource
import sys
import time

import torch
import torch.nn as nn


def make_model(name):
    # The final sigmoid / softmax is folded into the loss, as Backprop computes its
    # cross-entropies from the logits.
    if name == "large-cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10),
        )
        return model, nn.CrossEntropyLoss()
    outputs = {"seed-cnn": 1, "mnist-cnn": 10}[name]
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5408, outputs)
    )
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


def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def epoch_rate(model, loss_fn, opt, x, y, batch, warmup, step_fn=None, epochs=2, whole_batches=False):
    # whole_batches drops a short last batch: for torch.compile, whose every new shape is another compilation.
    starts = list(range(0, x.shape[0] - (batch - 1 if whole_batches else 0), batch))
    samples = min(len(starts) * batch, x.shape[0])

    def step(s):
        opt.zero_grad(set_to_none=True)
        out = model(x[s:s + batch])
        loss = loss_fn(out, y[s:s + batch])
        loss.backward()
        opt.step()

    for i in range(warmup):
        step(starts[i % len(starts)])
    step(starts[-1])  # a short last batch is another shape: compiled (if at all) here, not in a timed epoch
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
    label = "compiled" if args.compile else "torch"
    for name in args.models:
        x, y = make_data(name, args.samples)
        for batch in args.batches:
            model, loss_fn = make_model(name)
            opt = torch.optim.Adam(model.parameters(), lr=0.001)
            if args.compile:
                model = torch.compile(model, dynamic=False)
            rate = epoch_rate(model, loss_fn, opt, x, y, batch, args.warmup, whole_batches=args.compile)
            print(f"{label} {name} {batch} {args.threads} {rate:.0f} {peak_rss_kb()}", flush=True)


def ddp_worker(rank, args, port, queue):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=args.procs)
    torch.manual_seed(1)
    name = args.models[0]
    local = args.global_batch // args.procs
    # Each process trains on its own share of the epoch's samples.
    x, y = make_data(name, args.samples // args.procs, seed=rank)
    model, loss_fn = make_model(name)
    model = DDP(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    rate = epoch_rate(model, loss_fn, opt, x, y, local, args.warmup, step_fn=dist.barrier)
    queue.put((rank, rate * args.procs, peak_rss_kb()))  # all processes' samples in the same wall time
    dist.destroy_process_group()


def run_ddp(args):
    import socket
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=ddp_worker, args=(r, args, port, queue)) for r in range(args.procs)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    rate = next(r for rank, r, _ in results if rank == 0)
    rss = max(kb for _, _, kb in results)
    print(f"ddp {args.models[0]} {args.global_batch} {args.procs} {rate:.0f} {rss}", flush=True)


def import_torchvision():
    """torchvision, whose datasets and transforms are pure Python over Pillow. PyPI's torchvision is
    built against CUDA torch; beside the CPU-only torch its C++ ops do not load, and then its import
    fails registering shapes for two of them (torchvision::nms, qnms) that were never defined.
    Defining those two (never called here) lets the rest import."""
    try:
        import torchvision
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
        ops = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            ops.define(op + "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import_torchvision.ops = ops  # the definitions live as long as this Library object
        import torchvision
    return torchvision


def run_folder(args):
    torchvision = import_torchvision()
    from torchvision import datasets, transforms

    torch.manual_seed(1)
    torch.set_num_threads(args.threads)
    name, batch = args.models[0], args.batches[0]
    started = time.perf_counter()
    data = datasets.ImageFolder(args.folder, transform=transforms.Compose(
        [transforms.Grayscale(1), transforms.Resize((28, 28)), transforms.ToTensor()]))
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, num_workers=args.workers,
                                         persistent_workers=args.workers > 0)
    model, loss_fn = make_model(name)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    seconds = []
    for _ in range(args.epochs):
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y.float()[:, None] if name == "seed-cnn" else y)
            loss.backward()
            opt.step()
        now = time.perf_counter()
        seconds.append(now - started)
        started = now
    print(f"folder {name} {batch} {args.threads} {len(data)} {seconds[0]:.3f} {min(seconds[1:]):.3f}", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", default=["seed-cnn", "mnist-cnn"])
    p.add_argument("--batches", nargs="+", type=int, default=[32, 128])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--samples", type=int, default=6000)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--compile", action="store_true", help="torch.compile the model (eager runs only)")
    p.add_argument("--ddp", action="store_true")
    p.add_argument("--procs", type=int, default=2, help="DDP processes")
    p.add_argument("--global-batch", type=int, default=64)
    p.add_argument("--folder", help="train from this folder of images (one subfolder per class) through ImageFolder")
    p.add_argument("--workers", type=int, default=2, help="--folder: the DataLoader's worker processes")
    p.add_argument("--epochs", type=int, default=3, help="--folder: epochs, the first timed apart from the best of the rest")
    args = p.parse_args()
    if args.folder:
        run_folder(args)
    elif args.ddp:
        run_ddp(args)
    else:
        run_eager(args)


if __name__ == "__main__":
    sys.exit(main())
