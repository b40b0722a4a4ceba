"""Does Backprop learn as well as PyTorch? Fashion-MNIST with and without batch norm and dropout.

    python3 bench/learning.py [--seeds 1,2,3] [--epochs 5] [--microbatch 32[,128]] [--threads 2]
        [--photos 512 | --no-photos] [--photos-only] [--torch-python PYTHON] [--bin DIR] [--no-build] [--keep]

Not a test (scripts/test and CI do not run it). It builds `backprop` in release mode, installs
Debian's dataset-fashion-mnist when it is missing, then, for each seed, trains two models with
`backprop train` and with the same model in PyTorch (bench/learning_torch.py: Keras's initialisation
and Adam, batch norm momentum 0.01 and eps 1e-3, the same 54,000 / 6,000 split, batch, epochs and
a seeded shuffle each epoch):

    with:    conv32x3,batchnorm,relu,maxpool2,conv64x3,batchnorm,relu,maxpool2,flatten,dropout0.5,dense10-softmax
    without: conv32x3-relu,maxpool2,conv64x3-relu,maxpool2,flatten,dense10-softmax

and prints each run's test accuracy (10,000 images), the mean over the seeds, Backprop − PyTorch
in points of accuracy for each model, and whether that is within 0.5 points; then the means of the
test loss, the last epoch's training loss and, for the model with batch norm, the test accuracy
with batch norm's statistics recomputed over the training images (bench/learning_torch.py
--checkpoint evaluates Backprop's checkpoints that way), which takes out the noise the moving
averages add; then every command it ran.

Backprop's batch norm normalises with each microbatch's statistics (a ghost batch), PyTorch's with
the whole batch's: with --microbatch 32,128 Backprop trains the model with batch norm at each
microbatch (128, the batch, gives the statistics PyTorch uses), and the model without it at the
first only (there the microbatch changes only the order of sums).

Then (unless --no-photos) it writes --photos RGB JPEG photos (500x375, two classes in
DIR/train/cat and DIR/train/dog, and a small DIR/test) and times the README's cats-vs-dogs
recipe: `backprop train --model dlwp-convnet --data folder:DIR --image-size 150x150 --color rgb
--batch-size 32 --threads 2 --epochs 2`, and the same with mini-xception at 180x180, reporting
the second epoch's seconds from its console line and its samples/s (from history.csv: the console
rounds to whole samples); the first epoch also fills the image cache.

PyTorch runs with tcmalloc preloaded when it is installed and OMP_WAIT_POLICY=PASSIVE (on shared
cores OpenMP's spinning made it up to 8 times slower; neither changes a result).

The machine may be shared: for every run it prints the share of the CPU that other processes
kept busy meanwhile (from /proc/stat, less the run's own CPU time), since timings mean little
when that is high; accuracies do not depend on it.
"""
import argparse
import csv
import json
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = (
    ("with BN + dropout",
     "conv32x3,batchnorm,relu,maxpool2,conv64x3,batchnorm,relu,maxpool2,flatten,dropout0.5,dense10-softmax"),
    ("without", "conv32x3-relu,maxpool2,conv64x3-relu,maxpool2,flatten,dense10-softmax"),
)
DATA = "/usr/share/datasets/fashion-mnist"
TCMALLOC = f"/usr/lib/{os.uname().machine}-linux-gnu/libtcmalloc_minimal.so.4"
TOLERANCE = 0.5  # points of test accuracy between the frameworks' means
PHOTO_RUNS = (("dlwp-convnet", "150x150"), ("mini-xception", "180x180"))
PHOTO_TEST = 64  # test photos, on top of --photos training photos


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- runs


def cpu_ticks():
    """(all, idle) jiffies of the whole machine, from /proc/stat."""
    v = list(map(int, open("/proc/stat").readline().split()[1:]))
    return sum(v), v[3] + v[4]


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, env=None, timeout=3600):
    """Runs cmd to the end; returns (its stdout and stderr, the share of the machine's CPU other processes kept
    busy meanwhile, wall seconds)."""
    ticks, ours, start = cpu_ticks(), children_cpu(), time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    wall = time.monotonic() - start
    total, idle = (b - a for a, b in zip(ticks, cpu_ticks()))
    hz = os.sysconf("SC_CLK_TCK")
    busy_seconds = (total - idle) / hz
    others = max(0.0, busy_seconds - (children_cpu() - ours)) / max(wall * os.cpu_count(), 1e-9)
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise BenchError(f"{shlex.join(cmd[:3])} ... failed (exit {proc.returncode}): {' | '.join(lines)}")
    return proc.stdout + proc.stderr, others, wall


def note(text):
    print(text, file=sys.stderr, flush=True)


def backprop_cmd(args, spec, seed, microbatch, run_dir):
    return [args.backprop, "train", "--model", spec, "--data", f"idx:{args.data}", "--epochs", str(args.epochs),
            "--batch-size", str(args.batch_size), "--microbatch", str(microbatch), "--threads", str(args.threads),
            "--seed", str(seed), "--run-dir", run_dir]


def torch_cmd(args, spec, seed):
    return [args.torch_python, os.path.join(HERE, "learning_torch.py"), "--data", args.data, "--model", spec,
            "--seed", str(seed), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--threads", str(args.threads)]


def torch_env(args):
    env = dict(os.environ)
    if args.preload:
        env["LD_PRELOAD"] = args.preload
    # OpenMP's threads spin while they wait; on cores other work shares, that made a PyTorch run up to 8 times
    # slower here. Passive waiting changes no result.
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def torch_prefix(args):
    return (["LD_PRELOAD=" + args.preload] if args.preload else []) + ["OMP_WAIT_POLICY=PASSIVE"]


def accuracy_runs(args, scratch):
    """{(model label, framework label): [run]}, each run a dict of seed, test accuracy and loss, the last epoch's
    training loss, the test accuracy with batch norm's statistics recomputed (None without batch norm), wall
    seconds and the share of the CPU others kept busy; and the commands, in the order they ran."""
    results, commands = {}, []
    env = torch_env(args)

    def record(label, framework, seed, figures, wall, others):
        results.setdefault((label, framework), []).append(dict(figures, seed=seed, wall=wall, others=others))
        note(f"  {label}, {framework}, seed {seed}: test accuracy {figures['test_accuracy']:.4f} "
             f"({wall:.0f} s, others kept {others:.0%} of the CPU busy)")

    for seed in args.seeds:
        for label, spec in MODELS:
            microbatches = args.microbatch if "batchnorm" in spec else args.microbatch[:1]
            for microbatch in microbatches:
                run_dir = os.path.join(scratch, f"{label.split()[0]}-mb{microbatch}-seed{seed}")
                cmd = backprop_cmd(args, spec, seed, microbatch, run_dir)
                _, others, wall = run(cmd)
                commands.append(cmd)
                with open(os.path.join(run_dir, "summary.json")) as f:
                    summary = json.load(f)
                figures = {"test_accuracy": summary["test_accuracy"], "test_loss": summary["test_loss"],
                           "train_loss": summary["final_epoch"]["loss"], "test_accuracy_population": None}
                if "batchnorm" in spec:
                    evaluate = [args.torch_python, os.path.join(HERE, "learning_torch.py"), "--data", args.data,
                                "--checkpoint", os.path.join(run_dir, "checkpoint.safetensors"),
                                "--threads", str(args.threads)]
                    out, _, _ = run(evaluate, env=env)
                    commands.append(torch_prefix(args) + evaluate)
                    figures["test_accuracy_population"] = json.loads(out.strip().splitlines()[-1])["test_accuracy_population"]
                record(label, f"Backprop (mb {microbatch})", seed, figures, wall, others)
            cmd = torch_cmd(args, spec, seed)
            out, others, wall = run(cmd, env=env)
            commands.append(torch_prefix(args) + cmd)
            record(label, "PyTorch", seed, json.loads(out.strip().splitlines()[-1]), wall, others)
    return results, commands


def mean(runs, key):
    values = [r[key] for r in runs]
    return None if None in values else statistics.mean(values)


def print_accuracy(args, results, commands):
    seeds = args.seeds
    print(f"Fashion-MNIST, test accuracy on the 10,000 test images after {args.epochs} epochs (54,000 training "
          f"images, the last 6,000 held out; batch {args.batch_size}, {args.threads} threads):")
    print()
    head = f"  {'model':<18} {'framework':<26}" + "".join(f" {'seed ' + str(s):>8}" for s in seeds) + f" {'mean':>8}"
    print(head)
    print("  " + "-" * (len(head) - 2))
    verdicts = []
    for label, _ in MODELS:
        rows = [(framework, runs) for (name, framework), runs in results.items() if name == label]
        reference = mean(results[(label, "PyTorch")], "test_accuracy")
        for framework, runs in rows:
            print(f"  {label:<18} {framework:<26}" + "".join(f" {r['test_accuracy']:>8.4f}" for r in runs) +
                  f" {mean(runs, 'test_accuracy'):>8.4f}")
        for framework, runs in rows:
            if framework != "PyTorch":
                diff = 100 * (mean(runs, "test_accuracy") - reference)
                verdict = "within" if abs(diff) <= TOLERANCE else "NOT within"
                verdicts.append(abs(diff) <= TOLERANCE)
                print(f"  {label:<18} {framework + ' − PyTorch':<26} {diff:>+{9 * len(seeds) + 8}.2f} points: "
                      f"{verdict} {TOLERANCE}")
        print()
    print(f"verdict: {'every' if all(verdicts) else 'NOT every'} Backprop mean is within {TOLERANCE} points of "
          f"PyTorch's")
    print()
    print("means over the seeds:")
    print()
    head = f"  {'model':<18} {'framework':<18} {'test loss':>9} {'train loss':>10} {'test acc':>8} " \
           f"{'BN recomputed':>13} {'minutes':>7} {'others':>6}"
    print(head)
    print("  " + "-" * (len(head) - 2))
    for (label, framework), runs in results.items():
        population = mean(runs, "test_accuracy_population")
        print(f"  {label:<18} {framework:<18} {mean(runs, 'test_loss'):>9.4f} {mean(runs, 'train_loss'):>10.4f} "
              f"{mean(runs, 'test_accuracy'):>8.4f} {'' if population is None else f'{population:.4f}':>13} "
              f"{sum(r['wall'] for r in runs) / 60:>7.1f} {mean(runs, 'others'):>6.0%}")
    print()
    print("  mb: Backprop's microbatch, the ghost batch its batch norm normalises over (PyTorch's: the whole batch)")
    print(f"  train loss: the mean over epoch {args.epochs}'s batches, in training mode (with dropout)")
    print("  BN recomputed: the test accuracy with each batch norm's mean and variance recomputed over the training")
    print("    images with the final weights, in place of its moving averages (bench/learning_torch.py)")
    print("  minutes: the seeds' wall time together; others: the share of the CPU other processes kept busy")
    print()
    print("commands:")
    for cmd in commands:
        print("  " + " ".join(shlex.quote(c) if not c.startswith(("LD_PRELOAD=", "OMP_")) else c for c in cmd))
    print()


# ---------------------------------------------------------------- photos


def write_photos(directory, count, tests):
    """count training and `tests` test JPEG photos, 500x375 RGB (Kaggle's cats and dogs' size), in
    DIR/train/{cat,dog} and DIR/test/{cat,dog}, written by Pillow from smooth random colour fields."""
    script = f"""
import os, numpy as np
from PIL import Image, ImageFilter
r = np.random.default_rng(0)
for split, n in (("train", {count}), ("test", {tests})):
    for c in ("cat", "dog"):
        os.makedirs(os.path.join({directory!r}, split, c), exist_ok=True)
        for i in range(n // 2):
            base = r.integers(0, 255, size=(47, 63, 3)).astype(np.uint8)
            im = Image.fromarray(base).resize((500, 375), Image.BICUBIC).filter(ImageFilter.DETAIL)
            im.save(os.path.join({directory!r}, split, c, f"{{c}}.{{i}}.jpg"), quality=85)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"could not write the photos with Pillow: {proc.stderr.strip().splitlines()[-1:]}")


def photo_runs(args, scratch):
    directory = os.path.join(scratch, "photos")
    write_photos(directory, args.photos, PHOTO_TEST)
    rows = []
    for model, size in PHOTO_RUNS:
        run_dir = os.path.join(scratch, f"photos-{model}")
        cmd = [args.backprop, "train", "--model", model, "--data", f"folder:{directory}", "--image-size", size,
               "--color", "rgb", "--batch-size", "32", "--threads", str(args.threads), "--epochs", "2",
               "--run-dir", run_dir]
        out, others, wall = run(cmd)
        lines = re.findall(r"^epoch (\d+)/2 - ([\d.]+)s - .* - (\d+) samples/s$", out, re.M)
        if len(lines) != 2:
            raise BenchError(f"{model}: expected two epoch lines in its output, found {len(lines)}")
        _, first, _ = lines[0]
        _, seconds, _ = lines[1]
        # The console rounds samples/s to a whole number; history.csv has it unrounded.
        with open(os.path.join(run_dir, "history.csv")) as f:
            rate = float(list(csv.DictReader(f))[1]["samples_per_second"])
        samples = int(re.search(r"data: .* - (\d+) train", out)[1])
        rows.append((model, size, samples, float(first), float(seconds), rate, wall, others, cmd))
        note(f"  {model}: epoch 2 {seconds} s, {rate:.2f} samples/s (others kept {others:.0%} of the CPU busy)")
    return rows


def print_photos(args, rows):
    print(f"photo presets, {args.photos} + {PHOTO_TEST} test RGB JPEG photos of 500x375 (the last 10% of the "
          f"training photos held out), batch 32, {args.threads} threads:")
    print()
    print(f"  {'model':<14} {'size':>7} {'train':>6} {'epoch 1 (s)':>12} {'epoch 2 (s)':>12} {'samples/s':>10} "
          f"{'others':>7}")
    for model, size, samples, first, seconds, rate, _, others, _ in rows:
        print(f"  {model:<14} {size:>7} {samples:>6} {first:>12.1f} {seconds:>12.1f} {rate:>10.2f} {others:>7.0%}")
    print()
    print("  epoch 1 also decodes the photos into the image cache; epoch 2 is the figure to quote. others: the share")
    print("  of the CPU other processes kept busy during the run")
    print()
    print("commands:")
    for row in rows:
        print("  " + shlex.join(row[-1]))


# ---------------------------------------------------------------- main


def numbers(text):
    return [int(v) for v in text.split(",")]


def prepare(args, scratch):
    if not args.no_build:
        proc = subprocess.run(["swift", "build", "-c", "release", "--product", "backprop"], cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchError("swift build -c release failed: " + " | ".join(proc.stdout.strip().splitlines()[-3:]))
    if not os.access(args.backprop, os.X_OK):
        raise BenchError(f"no executable {args.backprop}")
    # Its own copy, so that a build in the same checkout during the run cannot change or remove it.
    args.backprop = shutil.copy2(args.backprop, os.path.join(scratch, "backprop"))
    if args.photos_only or os.path.exists(os.path.join(args.data, "train-images-idx3-ubyte.gz")):
        return
    if args.data != DATA:
        raise BenchError(f"{args.data} holds no train-images-idx3-ubyte.gz")
    note("installing Debian's dataset-fashion-mnist, once...")
    sudo = [] if os.getuid() == 0 else ["sudo", "-n"]
    install = sudo + ["apt-get", "install", "-y", "dataset-fashion-mnist"]
    if subprocess.run(install, capture_output=True).returncode != 0:
        subprocess.run(sudo + ["apt-get", "update"], capture_output=True)
        if subprocess.run(install, capture_output=True).returncode != 0:
            raise BenchError("could not install dataset-fashion-mnist (apt-get install -y dataset-fashion-mnist)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=numbers, default=[1, 2, 3], help="comma list of seeds (default 1,2,3)")
    p.add_argument("--epochs", type=int, default=5, help="epochs of every run (default 5)")
    p.add_argument("--batch-size", type=int, default=128, help="batch of every run (default 128)")
    p.add_argument("--microbatch", type=numbers, default=[32],
                   help="Backprop's microbatch, its batch norm's ghost batch; a comma list trains the model with "
                        "batch norm at each (default 32)")
    p.add_argument("--threads", type=int, default=2, help="threads of every run (default 2)")
    p.add_argument("--data", default=DATA, help="Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist)")
    p.add_argument("--photos", type=int, default=512, help="training photos for the photo presets' timing (default 512)")
    p.add_argument("--no-photos", action="store_true", help="skip the photo presets' timing")
    p.add_argument("--photos-only", action="store_true", help="only the photo presets' timing")
    p.add_argument("--torch-python", default=sys.executable, help="a python that imports torch (default this one)")
    p.add_argument("--preload", default=TCMALLOC if os.path.exists(TCMALLOC) else "",
                   help="LD_PRELOAD for PyTorch (default Debian's tcmalloc when installed)")
    p.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"), help="the release build's directory")
    p.add_argument("--no-build", action="store_true", help="use the binary in --bin as it is")
    p.add_argument("--keep", action="store_true", help="keep the run directories and photos (printed at the start)")
    args = p.parse_args()
    args.backprop = os.path.join(args.bin, "backprop")
    sys.stdout.reconfigure(line_buffering=True)  # the tables and the progress notes on stderr in order

    scratch = tempfile.mkdtemp(prefix="backprop-learning.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # subprocess.run kills the run it waits for
    try:
        prepare(args, scratch)
        if not args.photos_only:
            note(f"accuracy runs ({len(args.seeds)} seeds x {args.epochs} epochs; run directories in {scratch}):")
            results, commands = accuracy_runs(args, scratch)
            print_accuracy(args, results, commands)
        if not args.no_photos:
            note("photo presets:")
            print_photos(args, photo_runs(args, scratch))
        return 0
    except (BenchError, subprocess.TimeoutExpired) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
