"""The measurements and tables of scripts/bench, which builds, installs the peers, then runs this.

Standard library only; it runs with the system python3. Everything it prints is measured in
this one run, so ratios compare figures taken under the same load (as far as a shared
machine allows: it warns when other processes keep the CPU busy).

    python3 bench/bench.py --bin .build/release [--quick] [--peers | --folders]
        [--torch-python VENV/bin/python [--preload LIB]] [--keras-python VENV/bin/python]
        [--peers-note TEXT]...
    python3 bench/bench.py --bin .build/release --hosts [--quick] [--sweep]     (root: network namespaces)

Backprop's figures: `backprop train` (samples/s, achieved GFLOP/s against the GEMM speed
measured here, peak RSS), clusters of 1, 2 and 4 workers (samples/s, the workers' waiting
share, peak RSS of the server and of the largest worker, and the mean step-time breakdown
from the logs), the local seed-cnn cluster of 2 workers against `backprop train --threads 2` at the
cluster's batch and microbatch in pairs run back to back, a worker's start-up time, and how fast a folder of JPEG photos is decoded into the
image cache (the photos written, and Pillow's own decode timed, by a python with Pillow: n/a
without it). With --peers, the peers it is given train the
identical models (bench/peers_torch.py, bench/peers_keras.py) for the ratios. The final
block checks the performance targets (n/a where a peer's figure is missing).

--hosts measures only a cluster across hosts: the server on one network-namespace host and 3
workers on 3 others (scripts/hosts), over TCP with CurveZMQ keys, with the links unshaped and
shaped to 1 Gbit/s each way, each with float32 values and with bfloat16 gradients and optimiser
steps, and once unshaped without keys: samples/s, its share of `backprop train --threads 2` on the
same settings, and bytes per sample on the wire (the server host's link counters) and on the
workers' sockets (their bytes_sent and bytes_received), then the targets for them.

With --folders it measures only image folders: how fast 256x256 JPEG photos and 28x28 PNGs are
decoded into the cache, and one epoch of mnist-cnn from a folder of Fashion-MNIST PNGs, cold and
warm, with Backprop, with the peers it is given (torchvision's ImageFolder and a DataLoader; Keras's
image_dataset_from_directory), and with Backprop from the same images' IDX files; then the image
folders' targets.
"""
import argparse
import csv
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_DATA = {"seed-cnn": "synthetic", "mnist-cnn": "synthetic10", "large-cnn": "synthetic10"}
CLUSTER_BATCH, CLUSTER_MICROBATCH = 64, 16
EPOCHS = 2  # each run reports its best epoch, as the peers report the best of 2 epochs
# --hosts: large-cnn, the server on host 1 and a worker on each of hosts 2-4, links unshaped and at 1 Gbit/s.
HOSTS_MODEL, HOSTS_BATCH, HOSTS_MICROBATCH, HOSTS_WORKERS = "large-cnn", 512, 16, 3
HOSTS_RATES = (None, "1gbit")
# The multi-host rows (links, values, CurveZMQ): each link rate with everything as float32, then with gradients and
# optimiser steps as bfloat16, all with CurveZMQ keys; then unshaped float32 without keys, which shows what CurveZMQ costs.
HOSTS_ROWS = tuple((rate, precision, True) for precision in ("float32", "bfloat16") for rate in HOSTS_RATES) + \
    ((None, "float32", False),)
# Bytes per sample the workers' sockets carried, up and down, when every microbatch's gradient travelled alone as
# float32 and every worker was sent the weights each step (large-cnn, global batch 512, 3 workers): 32 gradients and 3
# copies of the weights, 4.8 MB each, per 512 samples.
HOSTS_BYTES_BEFORE = 35 * 4 * 1_199_882 / 512
# --hosts --sweep: links at 100 Mbit/s, where the wire sets the pace, with 1, 2 and 3 worker hosts, and 3 with bfloat16 gradients.
SWEEP_RATE, SWEEP_SAMPLES = "100mbit", 1536
SWEEP = ((1, "float32"), (2, "float32"), (3, "float32"), (3, "bfloat16"))
HOSTS_NAME = "bpb"  # scripts/hosts --name: namespaces bpb-h1.., apart from hosts made by hand (bp)
# --folders: one model, batch and thread count for every system; PyTorch trains on 1 thread beside its 2 loader
# processes (2 threads and 2 loaders on 2 cores took it about twice as long per epoch).
FOLDER_MODEL, FOLDER_BATCH, FOLDER_THREADS, TORCH_FOLDER_THREADS, TORCH_LOADERS = "mnist-cnn", 32, 2, 1, 2

children = []  # every process this script starts, so an interrupted run leaves none behind


# ---------------------------------------------------------------- processes


def start(cmd, log, env=None):
    with open(log, "ab") as stderr:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    children.append(proc)
    return proc


def wait(proc, timeout):
    """Waits for `proc` and returns (exit code, peak RSS in KB) from wait4's rusage: the
    kernel's own maximum, exact however briefly the process held it. Kills it past `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss
        if time.monotonic() > deadline:
            proc.kill()
            deadline = float("inf")
        time.sleep(0.005)


def stop_children():
    for proc in children:
        if proc.returncode is None and proc.poll() is None:
            proc.kill()


def tail(path, lines=3):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(line.strip() for line in f.readlines()[-lines:])
    except OSError:
        return ""


class BenchError(Exception):
    pass


def run_checked(cmd, log, timeout=1800):
    code, rss = wait(start(cmd, log), timeout)
    if code != 0:
        raise BenchError(f"{os.path.basename(cmd[0])} {' '.join(cmd[1:3])} failed (exit {code}): {tail(log)}")
    return rss


# ---------------------------------------------------------------- logs


def events(path):
    try:
        with open(path) as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
    except FileNotFoundError:
        return


def best_epoch_rate(run_dir):
    with open(os.path.join(run_dir, "history.csv")) as f:
        return max(float(row["samples_per_second"]) for row in csv.DictReader(f))


def mean_seconds(records):
    """Mean of every numeric `*_seconds` field over `records`, in field order: whatever timing
    fields the logs carry, old or new. A worker_step record adds up `assignments` assignments
    (1 in older logs), so its figures count that many times in the mean's denominator."""
    sums, counts = {}, {}
    for r in records:
        weight = r.get("assignments", 1)
        for key, value in r.items():
            if key.endswith("_seconds") and isinstance(value, (int, float)) and not isinstance(value, bool):
                sums[key] = sums.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + weight
    return {key[:-len("_seconds")]: sums[key] / counts[key] for key in sums}


# ---------------------------------------------------------------- backprop


class Backprop:
    def __init__(self, bin_dir, scratch):
        self.bin = bin_dir
        self.scratch = scratch
        help_text = subprocess.run([f"{bin_dir}/backprop", "train", "--help"], capture_output=True, text=True).stdout
        self.threads_flag = re.search(r"^\s*--threads\b", help_text, re.M) is not None
        self.serial = 0

    def run_dir(self, name):
        self.serial += 1
        return os.path.join(self.scratch, f"{self.serial:02d}-{name}")

    def common(self, model, samples):
        return ["--model", model, "--data", MODEL_DATA[model], "--train-limit", str(samples), "--test-limit", "200",
                "--epochs", str(EPOCHS), "--validation-split", "0"]

    def train(self, model, samples, batch, threads):
        """samples/s (best epoch) and peak RSS (KB) of `backprop train`; None when it cannot use `threads`."""
        if threads > 1 and not self.threads_flag:
            return None
        d = self.run_dir(f"train-{model}-{batch}-{threads}")
        cmd = [f"{self.bin}/backprop", "train", *self.common(model, samples), "--batch-size", str(batch),
               "--microbatch", str(min(batch, 16)), "--run-dir", d, "--quiet"]
        if self.threads_flag:
            cmd += ["--threads", str(threads)]
        rss = run_checked(cmd, d + ".log")
        return {"rate": best_epoch_rate(d), "rss": rss}

    def decode(self, folder, size, color, classes=2):
        """images/s of the first decode of `folder` into its cache (the progress line's last figure) and its
        peak RSS, then the wall seconds and peak RSS of a run that finds the cache current."""
        shutil.rmtree(os.path.join(os.path.dirname(os.path.abspath(folder)), ".backprop-cache"), ignore_errors=True)
        results = []
        for attempt in ("decode", "cached"):
            d = self.run_dir(f"folder-{size}-{color}-{attempt}")
            cmd = [f"{self.bin}/backprop", "train", "--data", "folder:" + folder, "--image-size", size, "--color", color,
                   "--model", f"flatten,dense{classes}-softmax", "--epochs", "1", "--train-limit", "64", "--run-dir", d, "--quiet"]
            started = time.monotonic()
            rss = run_checked(cmd, d + ".log")
            results.append((time.monotonic() - started, rss, d + ".log"))
        with open(results[0][2]) as f:
            rates = re.findall(r"decoding images into the cache: (\d+)/(\d+) \((\d+) images/s\)", f.read())
        if not rates or rates[-1][0] != rates[-1][1]:
            raise BenchError(f"no final decode progress line in {results[0][2]}")
        return {"rate": int(rates[-1][2]), "rss": results[0][1], "cached_seconds": results[1][0], "cached_rss": results[1][1]}

    def folder_epochs(self, folder, idx, samples, rounds):
        """mnist-cnn from `folder` (its cache removed first) and from the same images in `idx`:
        cold, the seconds from launch to the end of the first epoch of a run that decodes the folder;
        then `rounds` pairs of runs, folder (cache current) and IDX interleaved, each its best epoch's
        seconds (history.csv) and the seconds from launch to its first step; the best of the rounds."""
        def run(name, data, epochs):
            d = self.run_dir(name)
            cmd = [f"{self.bin}/backprop", "train", "--model", FOLDER_MODEL, "--data", data, "--epochs", str(epochs),
                   "--batch-size", str(FOLDER_BATCH), "--microbatch", str(min(FOLDER_BATCH, 16)),
                   "--validation-split", "0", "--train-limit", str(samples), "--test-limit", "100", "--run-dir", d, "--quiet"]
            if self.threads_flag:
                cmd += ["--threads", str(FOLDER_THREADS)]
            launched = time.time()
            run_checked(cmd, d + ".log")
            log = list(events(os.path.join(d, "train.jsonl")))
            first_step = next(e["time"] for e in log if e.get("event") == "step")
            first_epoch = next(e["time"] for e in log if e.get("event") == "epoch")
            with open(os.path.join(d, "history.csv")) as f:
                best = min(float(row["seconds"]) for row in csv.DictReader(f))
            return {"first_epoch": first_epoch - launched, "startup": first_step - launched, "epoch": best}

        shutil.rmtree(os.path.join(os.path.dirname(os.path.abspath(folder)), ".backprop-cache"), ignore_errors=True)
        cold = run("folder-cold", "folder:" + folder, 1)
        warm, from_idx = [], []
        for _ in range(rounds):
            warm.append(run("folder-warm", "folder:" + folder, EPOCHS))
            from_idx.append(run("idx", "idx:" + idx, EPOCHS))
        best = lambda runs: {key: min(r[key] for r in runs) for key in runs[0]}
        return {"cold": cold, "warm": best(warm), "idx": best(from_idx)}

    def server_cmd(self, model, samples, workers, d, epochs=EPOCHS):
        cmd = [f"{self.bin}/backprop-server", *self.common(model, samples), "--batch-size", str(CLUSTER_BATCH),
               "--microbatch", str(CLUSTER_MICROBATCH), "--port", "0", "--workers-min", str(workers),
               "--run-dir", d, "--quiet"]
        if epochs != EPOCHS:
            cmd[cmd.index("--epochs") + 1] = str(epochs)
        return cmd

    def wait_endpoint(self, server, d):
        path = os.path.join(d, "endpoint")
        while not (os.path.exists(path) and os.path.getsize(path) > 0):
            if server.poll() is not None:
                raise BenchError(f"backprop-server exited (code {server.returncode}): {tail(d + '.log')}")
            time.sleep(0.01)
        # Workers here use the server's Unix socket when it names one (written before `endpoint`), as scripts/cluster's do.
        local = os.path.join(d, "local-endpoint")
        if os.path.exists(local):
            path = local
        with open(path) as f:
            return f.read().strip()

    def cluster(self, model, samples, workers):
        d = self.run_dir(f"cluster-{model}-{workers}")
        server = start(self.server_cmd(model, samples, workers, d), d + ".log")
        endpoint = self.wait_endpoint(server, d)
        procs = [start([f"{self.bin}/backprop-worker", "--server", endpoint], d + f".worker{k}.log") for k in range(workers)]
        code, server_rss = wait(server, 1800)
        worker_rss = max(wait(p, 60)[1] for p in procs)
        if code != 0:
            raise BenchError(f"backprop-server ({model}, {workers} workers) failed (exit {code}): {tail(d + '.log')}")
        steps = [e for e in events(os.path.join(d, "server.jsonl")) if e.get("event") == "step"]
        # Workers report their steps to the server, which logs them as worker_step events.
        work = [e for e in events(os.path.join(d, "server.jsonl")) if e.get("event") == "worker_step"]
        compute = sum(e["compute_seconds"] for e in work)
        waited = sum(e["wait_seconds"] for e in work)
        samples = max(sum(e["samples"] for e in work), 1)
        return {"rate": best_epoch_rate(d), "wait_share": waited / max(compute + waited, 1e-9),
                "up": sum(e["bytes_sent"] for e in work) / samples, "down": sum(e["bytes_received"] for e in work) / samples,
                "server_rss": server_rss, "worker_rss": worker_rss,
                "server_step": mean_seconds(steps), "worker_step": mean_seconds(work)}

    def local_cluster_share(self, samples, rounds):
        """The local seed-cnn cluster of 2 workers against `backprop train --threads 2` with the same model, global
        batch and microbatch (CLUSTER_BATCH, CLUSTER_MICROBATCH): `rounds` pairs run back to back, the order
        alternating, so each pair shares the machine's load of the moment. Per pair (train, cluster) samples/s."""
        pairs = []
        for k in range(rounds):
            order = ("train", "cluster") if k % 2 == 0 else ("cluster", "train")
            rate = {}
            for what in order:
                if what == "train":
                    rate[what] = (self.train("seed-cnn", samples, CLUSTER_BATCH, 2) or {"rate": None})["rate"]
                else:
                    rate[what] = self.cluster("seed-cnn", samples, 2)["rate"]
            pairs.append((rate["train"], rate["cluster"]))
        return pairs

    def startup(self, samples, probes):
        """Seconds from launching a worker to the server's worker_joined and worker_admitted
        (data loaded, computing from the next step) events, for workers that join a seed-cnn
        server already training; the median of `probes` workers started one after another."""
        d = self.run_dir("startup")
        server = start(self.server_cmd("seed-cnn", samples, 1, d, epochs=10000), d + ".log")
        endpoint = self.wait_endpoint(server, d)
        base = start([f"{self.bin}/backprop-worker", "--server", endpoint], d + ".worker.log")
        log = os.path.join(d, "server.jsonl")
        offset = 0
        seen = []

        def read_new():
            nonlocal offset
            try:
                with open(log) as f:
                    f.seek(offset)
                    chunk = f.read()
            except FileNotFoundError:
                return
            complete = chunk[:chunk.rfind("\n") + 1]
            offset += len(complete.encode())
            seen.extend(json.loads(line) for line in complete.splitlines() if line.strip())

        def await_event(match, what, timeout=60):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                read_new()
                for e in seen:
                    if match(e):
                        return e
                if server.poll() is not None:
                    raise BenchError(f"the start-up server exited: {tail(d + '.log')}")
                time.sleep(0.002)
            raise BenchError(f"no {what} in {timeout} s while timing a worker's start-up")

        joined, ready = [], []
        try:
            await_event(lambda e: e.get("event") == "step", "first step")
            for k in range(probes):
                launched = time.time()
                probe = start([f"{self.bin}/backprop-worker", "--server", endpoint], d + f".probe{k}.log")
                j = await_event(lambda e: e.get("event") == "worker_joined" and e.get("pid") == probe.pid, "worker_joined")
                a = await_event(lambda e: e.get("event") == "worker_admitted" and e.get("worker") == j["worker"],
                                "worker_admitted")
                joined.append(j["time"] - launched)
                ready.append(a["time"] - launched)
                probe.send_signal(signal.SIGTERM)
                wait(probe, 30)
        finally:
            server.send_signal(signal.SIGTERM)
            wait(server, 60)
            wait(base, 60)
        return statistics.median(joined), statistics.median(ready)

    def hosts_cluster(self, hosts, samples, rate, workers=HOSTS_WORKERS, precision="float32", steps="float32", curve=True):
        """A cluster across hosts: the server on host 1 and a worker on each of hosts 2..workers+1, over TCP with
        CurveZMQ keys (plain TCP without `curve`), every link shaped to `rate` each way (None: unshaped), gradients in
        `precision` and optimiser steps in `steps`. samples/s (best epoch), the workers' waiting share, and bytes per
        trained sample on the wire and on the workers' sockets."""
        d = self.run_dir(f"hosts-{rate or 'unshaped'}-{workers}-{precision}-{steps}{'' if curve else '-plain'}")
        keys = d + ".keys"
        run_checked([f"{self.bin}/backprop", "keys", "generate", keys, "--workers", str(HOSTS_WORKERS)], d + ".keys.log")
        server_keys = ["--keys", keys] if curve else ["--insecure"]
        hosts.shape(rate)
        before = hosts.link_bytes(1)
        cmd = [f"{self.bin}/backprop-server", *self.common(HOSTS_MODEL, samples), "--batch-size", str(HOSTS_BATCH),
               "--microbatch", str(HOSTS_MICROBATCH), *server_keys, "--host", hosts.addresses[0], "--port", "0",
               "--workers-min", str(workers), "--gradient-precision", precision, "--update-precision", steps,
               "--run-dir", d, "--quiet"]
        server = start(hosts.on(1) + cmd, d + ".log")
        path = os.path.join(d, "endpoint")
        while not (os.path.exists(path) and os.path.getsize(path) > 0):
            if server.poll() is not None:
                raise BenchError(f"backprop-server on host 1 exited (code {server.returncode}): {tail(d + '.log')}")
            time.sleep(0.01)
        with open(path) as f:
            endpoint = f.read().strip()
        worker_keys = (lambda k: ["--key", f"{keys}/worker-{k}.key", "--server-key", f"{keys}/server.pub"]) if curve else (lambda k: [])
        procs = [start(hosts.on(k + 1) + [f"{self.bin}/backprop-worker", "--server", endpoint, *worker_keys(k)], d + f".worker{k}.log")
                 for k in range(1, workers + 1)]
        code, _ = wait(server, 1800)
        for p in procs:
            wait(p, 60)
        if code != 0:
            raise BenchError(f"backprop-server across hosts ({rate or 'unshaped'}) failed (exit {code}): {tail(d + '.log')}")
        # Every message crosses the server's link; its counters include TCP/IP and CurveZMQ overhead.
        wire = hosts.link_bytes(1) - before
        log = list(events(os.path.join(d, "server.jsonl")))
        # Workers report their steps to the server, which logs them as worker_step events.
        work = [e for e in log if e.get("event") == "worker_step"]
        trained = max(sum(e["samples"] for e in work), 1)
        compute = sum(e["compute_seconds"] for e in work)
        waited = sum(e["wait_seconds"] for e in work)
        steps = [e for e in log if e.get("event") == "step"]
        return {"rate": best_epoch_rate(d), "wait_share": waited / max(compute + waited, 1e-9), "wire": wire / trained,
                "up": sum(e["bytes_sent"] for e in work) / trained, "down": sum(e["bytes_received"] for e in work) / trained,
                "step": mean_seconds(steps).get("step", 0.0)}

    def flops_per_sample(self, model):
        """Training FLOPs per sample from the layer shapes `backprop summary` prints, counted as
        backprop-bench counts them: a multiply-add is 2; backward is twice forward (kernel and
        input gradients) except for the first layer, which needs no input gradient."""
        text = subprocess.run([f"{self.bin}/backprop", "summary", "--model", model],
                              capture_output=True, text=True, check=True).stdout
        total = 0
        rows = re.findall(r"^ \S+ \((\w+)\)\s+\(None, ([\d, ]+)\)\s+([\d,]+)", text, re.M)
        for index, (kind, shape, params) in enumerate(rows):
            dims = [int(v) for v in shape.split(",")]
            params = int(params.replace(",", ""))
            if kind == "Conv2D":
                outputs = 1
                for v in dims:
                    outputs *= v
                multiply_adds = outputs * (params // dims[-1] - 1)
            elif kind == "Dense":
                multiply_adds = params - dims[-1]
            else:
                continue
            total += 2 * multiply_adds * (1 + (1 if index == 0 else 2))
        if total == 0:
            raise BenchError(f"could not read the layers of {model} from `backprop summary`")
        return total


# ---------------------------------------------------------------- hosts


class Hosts:
    """Network-namespace hosts made by scripts/hosts, removed (with anything left running in them) by `down`."""

    def __init__(self, count):
        self.script = os.path.join(HERE, "..", "scripts", "hosts")
        self.count = count
        self.hosts(["down"])  # left by a bench that was killed
        listing = self.hosts(["up", str(count)])
        self.addresses = [line.split()[1] for line in listing.splitlines() if line.startswith(f"{HOSTS_NAME}-h")]
        if len(self.addresses) != count:
            self.down()
            raise BenchError(f"scripts/hosts up {count} printed: {listing.strip()}")

    def hosts(self, arguments):
        result = subprocess.run([self.script, "--name", HOSTS_NAME, *arguments], capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError(f"scripts/hosts {' '.join(arguments)} failed: {result.stderr.strip()}")
        return result.stdout

    def on(self, k):
        """The command prefix that runs a command on host k."""
        return ["ip", "netns", "exec", f"{HOSTS_NAME}-h{k}"]

    def shape(self, rate):
        for k in range(1, self.count + 1):
            self.hosts(["shape", str(k), rate or "off"])

    def link_bytes(self, k):
        """Bytes host k's link has carried both ways, from the counters of its bridge-side veth."""
        total = 0
        for direction in ("rx", "tx"):
            with open(f"/sys/class/net/{HOSTS_NAME}-h{k}/statistics/{direction}_bytes") as f:
                total += int(f.read())
        return total

    def down(self):
        self.hosts(["down"])


# ---------------------------------------------------------------- machine


def cpu_busy_share():
    """Share of the CPU other processes kept busy over one second."""
    def sample():
        v = list(map(int, open("/proc/stat").readline().split()[1:]))
        return sum(v), v[3] + v[4]
    a = sample()
    time.sleep(1)
    b = sample()
    return 1 - (b[1] - a[1]) / max(b[0] - a[0], 1)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def gemm_peak(pythons):
    """{threads: (GFLOP/s, library)}: the best float32 1024x1024 GEMM any of `pythons` can run."""
    peak = {}
    for threads in (1, 2):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        for python, preload in pythons:
            if preload:
                env["LD_PRELOAD"] = preload
            else:
                env.pop("LD_PRELOAD", None)
            out = subprocess.run([python, os.path.join(HERE, "gemm_peak.py"), "--threads", str(threads)],
                                 capture_output=True, text=True, env=env, timeout=300).stdout
            for line in out.splitlines():
                _, library, _, gflops = line.split()
                if float(gflops) > peak.get(threads, (0, ""))[0]:
                    peak[threads] = (float(gflops), library)
    return peak


# ---------------------------------------------------------------- peers


class Peers:
    """The peers' figures, from bench/peers_*.py; a peer that fails is noted and left out, never fatal."""

    def __init__(self, args, samples):
        self.torch = args.torch_python
        self.keras = args.keras_python
        self.preload = args.preload
        self.samples = samples
        self.notes = list(args.peers_note)
        # Compiling takes minutes here, and trained more slowly than eager: --quick compiles one model at 1 thread.
        self.compile_threads = (1,) if args.quick else (1, 2)
        self.compile_models = ["seed-cnn"] if args.quick else ["seed-cnn", "mnist-cnn"]
        if args.quick:
            self.notes.append("--quick: torch.compile only for seed-cnn at 1 thread")
        # (model, batch, threads) -> samples/s
        self.eager, self.compiled, self.keras_rate = {}, {}, {}
        # (model, processes) -> (samples/s, peak RSS of the largest process in KB)
        self.ddp = {}
        # (model, threads) -> peak RSS in KB of the process that trained that model
        self.torch_rss, self.keras_rss = {}, {}

    def measure(self):
        if self.torch:
            for t in (1, 2):
                for m in MODEL_DATA:
                    for _, model, batch, threads, rate, rss in self.run(
                            self.torch, "peers_torch.py", ["--models", m, "--threads", str(t), "--samples", str(self.samples[m])],
                            f"PyTorch eager {m}, {plural(t, 'thread')}"):
                        self.eager[model, int(batch), int(threads)] = float(rate)
                        self.torch_rss[model, int(threads)] = int(rss)
                if t in self.compile_threads:
                    for _, model, batch, threads, rate, _ in self.run(
                            self.torch, "peers_torch.py",
                            ["--compile", "--models", *self.compile_models, "--threads", str(t),
                             "--samples", str(self.samples["seed-cnn"])],
                            f"torch.compile, {plural(t, 'thread')}", timeout=400):
                        self.compiled[model, int(batch), int(threads)] = float(rate)
            for m in ("seed-cnn", "large-cnn"):
                for n in (2, 4):
                    for _, model, _, procs, rate, rss in self.run(
                            self.torch, "peers_torch.py",
                            ["--ddp", "--procs", str(n), "--models", m, "--global-batch", str(CLUSTER_BATCH),
                             "--samples", str(self.samples[m])], f"PyTorch DDP {m}, {n} processes"):
                        self.ddp[model, int(procs)] = (float(rate), int(rss))
        if self.keras:
            for t in (1, 2):
                for _, model, batch, threads, rate, rss in self.run(
                        self.keras, "peers_keras.py", ["--threads", str(t), "--samples", str(self.samples["seed-cnn"])],
                        f"Keras, {plural(t, 'thread')}", preload=False):
                    self.keras_rate[model, int(batch), int(threads)] = float(rate)
                    self.keras_rss[model, int(threads)] = int(rss)

    def folder(self, directory):
        """{"torch"/"keras": (first epoch seconds, best later epoch seconds)}: FOLDER_MODEL trained from
        `directory` through torchvision's ImageFolder and a DataLoader, and through Keras's
        image_dataset_from_directory; a peer that fails is noted and left out."""
        found = {}
        common = ["--folder", directory, "--models", FOLDER_MODEL, "--batches", str(FOLDER_BATCH), "--epochs", "3"]
        if self.torch:
            for _, _, _, _, _, first, later in self.run(
                    self.torch, "peers_torch.py",
                    [*common, "--threads", str(TORCH_FOLDER_THREADS), "--workers", str(TORCH_LOADERS)],
                    "PyTorch ImageFolder", fields=7):
                found["torch"] = (float(first), float(later))
        if self.keras:
            for _, _, _, _, _, first, later in self.run(
                    self.keras, "peers_keras.py", [*common, "--threads", str(FOLDER_THREADS)],
                    "Keras image_dataset_from_directory", preload=False, fields=7):
                found["keras"] = (float(first), float(later))
        return found

    def run(self, python, script, arguments, what, timeout=900, preload=True, fields=6):
        """The lines `python script arguments` prints, split into `fields` fields."""
        env = dict(os.environ)
        if preload and self.preload:
            env["LD_PRELOAD"] = self.preload
        try:
            result = subprocess.run([python, os.path.join(HERE, script), *arguments], capture_output=True,
                                    text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.notes.append(f"{what}: left out, it took over {timeout} s")
            return []
        rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
        if result.returncode != 0 or not rows or any(len(row) != fields for row in rows):
            last = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
            self.notes.append(f"{what}: failed ({last})")
            return []
        return rows

    def best(self, model, batch, threads):
        """(samples/s, name) of the fastest peer at this setting, or None."""
        found = [(rates[model, batch, threads], name) for name, rates in
                 (("torch", self.eager), ("torch.compile", self.compiled), ("keras", self.keras_rate))
                 if (model, batch, threads) in rates]
        return max(found, default=None)


# ---------------------------------------------------------------- printing


def mb(kb):
    return f"{kb / 1024:.0f} MB"


def rate_text(rate):
    return "n/a" if rate is None else f"{rate:.0f}"


def ratio_text(a, b):
    return "n/a" if not a or not b else f"{a / b:.2f}x"


def plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def print_header(args, bp, samples):
    busy = cpu_busy_share()
    print(f"scripts/bench{' --quick' if args.quick else ''}: release build, {os.cpu_count()} cores ({cpu_name()})")
    print(f"samples: seed-cnn and mnist-cnn {samples['seed-cnn']}, large-cnn {samples['large-cnn']} (Backprop's built-in "
          f"images: synthetic, synthetic10); every figure is the best of {EPOCHS} epochs")
    print("backprop train: microbatch min(batch, 16); --threads "
          + ("supported" if bp.threads_flag else "not in this build (2-thread rows n/a)"))
    print(f"cluster: global batch {CLUSTER_BATCH}, microbatch {CLUSTER_MICROBATCH}; server and workers share the cores; workers connect over the server's Unix socket and share memory with it")
    if busy >= 0.10:
        print(f"warning: other processes kept {busy:.0%} of the CPU busy just before the run: "
              "every figure is low, 2-thread ones most of all")


def print_machine(peak, flops):
    print()
    if peak:
        print("GEMM (float32 1024x1024, best of 10): " + ", ".join(
            f"{plural(t, 'thread')} {g:.1f} GFLOP/s ({lib})" for t, (g, lib) in sorted(peak.items())))
    else:
        print("GEMM: n/a (no NumPy or PyTorch in reach; --peers brings PyTorch's)")
    print("training FLOPs per sample (from shapes; multiply-add = 2): "
          + ", ".join(f"{m} {f / 1e6:.2f} M" for m, f in flops.items()))


def print_train(train, peak, flops):
    print()
    print("backprop train")
    print(f"{'model':<10} {'batch':>5} {'threads':>7} {'samples/s':>10} {'GFLOP/s':>8} {'of GEMM':>8} {'peak RSS':>9}")
    for (m, b, t), r in train.items():
        if r is None:
            print(f"{m:<10} {b:>5} {t:>7} {'n/a':>10} {'n/a':>8} {'n/a':>8} {'n/a':>9}")
            continue
        gflops = r["rate"] * flops[m] / 1e9
        share = f"{gflops / peak[t][0]:.0%}" if t in peak else "n/a"
        print(f"{m:<10} {b:>5} {t:>7} {r['rate']:>10.0f} {gflops:>8.2f} {share:>8} {mb(r['rss']):>9}")


def print_cluster(cluster):
    print()
    print("cluster (backprop-server + workers)")
    print(f"{'model':<10} {'workers':>7} {'samples/s':>10} {'worker wait':>11} {'server RSS':>10} {'worker RSS':>10} {'up B/sample':>11} {'down B/sample':>13}")
    for (m, n), c in cluster.items():
        print(f"{m:<10} {n:>7} {c['rate']:>10.0f} {c['wait_share']:>11.0%} {mb(c['server_rss']):>10} {mb(c['worker_rss']):>10}"
              f" {c['up']:>11.0f} {c['down']:>13.0f}")
    print("(worker RSS: the largest worker's peak; worker wait: share of the workers' time spent waiting for the server;")
    print(" up/down B/sample: bytes the workers sent and received on their sockets per sample trained — the values of")
    print(" workers that share memory with the server go through that memory, so these are headers and bodies)")
    print()
    print("step-time breakdown, mean ms (server: per step, every *_seconds field of server.jsonl's step events;")
    print(" worker: per assignment, every *_seconds field of server.jsonl's worker_step events)")
    for (m, n), c in cluster.items():
        server = ", ".join(f"{k} {v * 1000:.2f}" for k, v in c["server_step"].items()) or "-"
        worker = ", ".join(f"{k} {v * 1000:.2f}" for k, v in c["worker_step"].items()) or "-"
        print(f"{m:<10} {plural(n, 'worker'):<9}  server: {server:<28} worker: {worker}")


def write_photos(directory, count, width=500, height=375):
    """`count` JPEG photos of `width`x`height` (by default 500x375, the size of Kaggle's cats and dogs) in two
    class folders, written by Pillow; False when Pillow is missing."""
    script = f"""
import os, numpy as np
from PIL import Image, ImageFilter
r = np.random.default_rng(0)
for c in ("cat", "dog"):
    os.makedirs(os.path.join({directory!r}, c), exist_ok=True)
    for i in range({count} // 2):
        base = r.integers(0, 255, size=(-(-{height} // 8), -(-{width} // 8), 3)).astype(np.uint8)
        im = Image.fromarray(base).resize(({width}, {height}), Image.BICUBIC).filter(ImageFilter.DETAIL)
        im.save(os.path.join({directory!r}, c, f"{{c}}.{{i}}.jpg"), quality=85)
"""
    return subprocess.run([sys.executable, "-c", script], capture_output=True).returncode == 0


def pillow_decode_rate(directory, size, color, pattern="*/*.jpg"):
    """images/s of Pillow decoding the same files on one thread as it is best used for this: draft mode (a
    scaled JPEG decode), convert, resize BILINEAR."""
    height, width = map(int, size.split("x"))
    script = f"""
import glob, time
from PIL import Image
files = sorted(glob.glob({directory!r} + "/" + {pattern!r}))[:400]
started = time.monotonic()
for path in files:
    im = Image.open(path)
    im.draft({'"RGB"' if color == "rgb" else '"L"'}, ({width}, {height}))
    im.convert({'"RGB"' if color == "rgb" else '"L"'}).resize(({width}, {height}), Image.BILINEAR)
print(len(files) / (time.monotonic() - started))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    return float(result.stdout) if result.returncode == 0 else None


def print_folder(folder, count):
    print()
    print(f"image folder: first decode of {count} JPEG photos (500x375) into the cache, on every core; then a run on the current cache")
    if folder is None:
        print("  n/a: Python's Pillow, which writes the photos, is not installed (scripts/setup --tests)")
        return
    print(f"{'size':<9} {'color':<9} {'images/s':>9} {'Pillow 1 thread':>15} {'peak RSS':>9} {'cached run':>10} {'its RSS':>8}")
    for (size, color), r in folder.items():
        pillow = f"{r['pillow']:.0f}" if r["pillow"] else "n/a"
        print(f"{size:<9} {color:<9} {r['rate']:>9} {pillow:>15} {mb(r['rss']):>9} {r['cached_seconds']:>9.2f}s {mb(r['cached_rss']):>8}")
    print("(Pillow 1 thread: the same files decoded in draft mode and resized by Pillow in one Python thread)")


def print_peers(args, peers, train, cluster, threads_flag, busy):
    print()
    print("peers: the identical models on random 28x28x1 images of the same count; each peer's best of 2 epochs")
    print(f" after 10 warm-up steps. PyTorch {'with tcmalloc' if args.preload else 'with glibc malloc'}; "
          "ratio = backprop / best peer")
    if busy >= 0.10:
        print(f"warning: other processes kept {busy:.0%} of the CPU busy just before the peers ran: a load that comes "
              "and goes skews the ratios")
    print(f"{'model':<10} {'batch':>5} {'threads':>7} {'backprop':>9} {'torch':>7} {'compiled':>9} {'keras':>7} "
          f"{'best peer':>19} {'ratio':>7}")
    for (m, b, t), mine in train.items():
        ours, mark = (mine["rate"], "") if mine else (train[m, b, 1]["rate"], " *")
        best = peers.best(m, b, t)
        print(f"{m:<10} {b:>5} {t:>7} {rate_text(mine and mine['rate']):>9} {rate_text(peers.eager.get((m, b, t))):>7} "
              f"{rate_text(peers.compiled.get((m, b, t))):>9} {rate_text(peers.keras_rate.get((m, b, t))):>7} "
              f"{(rate_text(best[0]) + ' ' + best[1]) if best else 'n/a':>19} "
              f"{ratio_text(ours, best and best[0]) + mark:>7}")
    if not threads_flag:
        print("* backprop train has no --threads yet: its 1-thread figure against the peers' 2 threads")
    print()
    print(f"{'model':<10} {'processes':>9} {'global batch':>12} {'cluster':>8} {'DDP gloo':>9} {'ratio':>7}")
    for m in ("seed-cnn", "large-cnn"):
        for n in (2, 4):
            theirs = peers.ddp.get((m, n), (None, None))[0]
            print(f"{m:<10} {n:>9} {CLUSTER_BATCH:>12} {cluster[m, n]['rate']:>8.0f} {rate_text(theirs):>9} "
                  f"{ratio_text(cluster[m, n]['rate'], theirs):>7}")
    print("(cluster: a server plus that many workers; DDP: that many processes, one thread each)")
    print()
    rss = [f"backprop-worker {mb(cluster['seed-cnn', 2]['worker_rss'])} (cluster of 2)",
           f"backprop train {mb(train['seed-cnn', 32, 1]['rss'])} (batch 32)"]
    if ("seed-cnn", 1) in peers.torch_rss:
        rss.append(f"PyTorch eager {mb(peers.torch_rss['seed-cnn', 1])} (1 thread, batch 32 then 128)")
    if ("seed-cnn", 2) in peers.ddp:
        rss.append(f"PyTorch DDP {mb(peers.ddp['seed-cnn', 2][1])} (largest of 2 processes)")
    if ("seed-cnn", 1) in peers.keras_rss:
        rss.append(f"Keras {mb(peers.keras_rss['seed-cnn', 1])} (1 thread, batch 32 then 128)")
    print("peak RSS training seed-cnn: " + ", ".join(rss))
    for note in peers.notes:
        print(f"note: {note}")


def print_targets(train, cluster, peers, ready, local):
    def verdict(ok):
        return "n/a" if ok is None else ("met" if ok else "NOT met")

    def versus(ours, theirs, ratio, ok):
        """`ours vs theirs = ratio  met`, or `ours vs n/a (...)` without the peer's figure."""
        if theirs is None:
            return f"{ours} vs n/a" + ("" if peers else " (needs --peers)")
        return f"{ours} vs {theirs} = {ratio}  {verdict(ok)}"

    print()
    print("targets")
    print("1. backprop train seed-cnn and mnist-cnn >= 3x the best peer, same batch and threads")
    oks = []
    for m in ("seed-cnn", "mnist-cnn"):
        for b in (32, 128):
            for t in (1, 2):
                mine = train[m, b, t] or train[m, b, 1]
                best = peers.best(m, b, t) if peers else None
                ok = None if not best else mine["rate"] >= 3 * best[0]
                oks.append(ok)
                ours = f"{mine['rate']:.0f}" + ("" if train[m, b, t] else " (1 thread)")
                print(f"   {m:<10} batch {b:>3}, {plural(t, 'thread'):<9}: "
                      + versus(ours, best and f"{best[0]:.0f} ({best[1]})", ratio_text(mine["rate"], best and best[0]), ok))
    known = [ok for ok in oks if ok is not None]
    if known:
        print(f"   -> {verdict(all(known))} ({sum(known)} of {len(known)} met)")

    ddp = peers.ddp if peers else {}
    ours, theirs = cluster["seed-cnn", 2]["rate"], ddp.get(("seed-cnn", 2), (None, None))[0]
    print("2. cluster seed-cnn (server + 2 workers, global batch 64) >= 3x PyTorch DDP (gloo, 2 processes): "
          + versus(f"{ours:.0f}", theirs and f"{theirs:.0f}", ratio_text(ours, theirs), theirs and ours >= 3 * theirs))

    print("3. large-cnn cluster ahead of PyTorch DDP, global batch 64")
    for n in (2, 4):
        ours, theirs = cluster["large-cnn", n]["rate"], ddp.get(("large-cnn", n), (None, None))[0]
        print(f"   {n} workers vs {n} processes: "
              + versus(f"{ours:.0f}", theirs and f"{theirs:.0f}", ratio_text(ours, theirs), theirs and ours > theirs))

    worker = cluster["seed-cnn", 2]["worker_rss"]
    candidates = []
    if peers and ("seed-cnn", 1) in peers.torch_rss:
        candidates.append((peers.torch_rss["seed-cnn", 1], "PyTorch eager, 1 thread"))
    if ("seed-cnn", 2) in ddp:
        candidates.append((ddp["seed-cnn", 2][1], "a PyTorch DDP process"))
    theirs = min(candidates, default=None)
    print("4. worker peak RSS (seed-cnn, cluster of 2) <= 1/5 of a PyTorch process training seed-cnn: "
          + versus(mb(worker), theirs and f"{mb(theirs[0])} ({theirs[1]}, the smallest)",
                   theirs and f"1/{theirs[0] / worker:.1f}", theirs and worker * 5 <= theirs[0]))
    print(f"   worker ready to compute within 0.5 s of launch: {ready:.2f} s  {verdict(ready <= 0.5)}")

    print(f"5. local seed-cnn cluster, 2 workers, global batch {CLUSTER_BATCH}, microbatch {CLUSTER_MICROBATCH} >= 80% of "
          f"backprop train --threads 2 (same model, batch and microbatch; {plural(len(local), 'pair')} run back to back):")
    shares = []
    for k, (ours, theirs) in enumerate(local, 1):
        share = ours / theirs if theirs else None
        shares.append(share)
        print(f"   pair {k}: cluster {ours:.0f} vs train {rate_text(theirs)} samples/s = "
              + (f"{share:.0%}" if share is not None else "n/a (no --threads)"))
    known = [x for x in shares if x is not None]
    median = statistics.median(known) if known else None
    print("   -> median " + (f"{median:.0%}  {verdict(median >= 0.8)}" if median is not None else "n/a"))



def print_hosts(args, samples, train, rows, busy):
    print(f"scripts/bench --hosts{' --quick' if args.quick else ''}: release build, {os.cpu_count()} cores ({cpu_name()})")
    print(f"{HOSTS_MODEL}, {samples} samples ({MODEL_DATA[HOSTS_MODEL]}), global batch {HOSTS_BATCH}, microbatch "
          f"{HOSTS_MICROBATCH}; best of {EPOCHS} epochs")
    print(f"server on host {HOSTS_NAME}-h1, {HOSTS_WORKERS} workers on {HOSTS_NAME}-h2..h{HOSTS_WORKERS + 1}: network namespaces "
          "on a bridge (scripts/hosts), TCP with CurveZMQ keys unless a row says none; every process shares this machine's cores")
    if busy >= 0.10:
        print(f"warning: other processes kept {busy:.0%} of the CPU busy just before the run: every figure is low")
    print()
    train_text = rate_text(train and train["rate"])
    print(f"backprop train --threads 2, same model, data, batch and microbatch: {train_text} samples/s")
    print()
    print(f"{'links':<16} {'values':>8} {'keys':>5} {'samples/s':>10} {'of train':>9} {'step ms':>8} {'wire B/sample':>14} "
          f"{'up B/sample':>12} {'down B/sample':>14} {'worker wait':>11}")
    for (rate, precision, curve), r in rows.items():
        share = f"{r['rate'] / train['rate']:.0%}" if train else "n/a"
        links = f"{rate} each way" if rate else "unshaped"
        print(f"{links:<16} {precision:>8} {'CURVE' if curve else 'none':>5} {r['rate']:>10.0f} {share:>9} {r['step'] * 1000:>8.0f} "
              f"{r['wire']:>14,.0f} {r['up']:>12,.0f} {r['down']:>14,.0f} {r['wait_share']:>11.0%}")
    print("(values: float32, or bfloat16 gradients and optimiser steps (--gradient-precision and --update-precision")
    print(" bfloat16). keys: CurveZMQ keys, or none (plain TCP). wire: bytes both ways on the server's link, CurveZMQ and")
    print(" TCP/IP included, though a veth counts the headers of a 64 KB offloaded segment once; up/down: bytes the workers")
    print(" sent and received on their sockets; all per sample trained. worker wait: share of the workers' time spent waiting")
    print(" for the server)")
    print_hosts_targets(train, rows)


def print_hosts_targets(train, rows):
    def verdict(ok):
        return "met" if ok else "NOT met"

    print()
    print("targets (across hosts)")
    for number, (rate, floor) in enumerate(((None, 0.75), ("1gbit", 0.65)), start=1):
        ours = rows[rate, "float32", True]["rate"]
        links = f"{rate} links" if rate else "unshaped links"
        if train:
            print(f"{number}. {HOSTS_WORKERS} worker hosts, {links}, >= {floor:.0%} of backprop train --threads 2: {ours:.0f} vs "
                  f"{train['rate']:.0f} samples/s = {ours / train['rate']:.0%}  {verdict(ours >= floor * train['rate'])}")
        else:
            print(f"{number}. {HOSTS_WORKERS} worker hosts, {links}, >= {floor:.0%} of backprop train --threads 2: n/a")
    for precision in ("float32", "bfloat16"):
        r = rows[None, precision, True]
        moved = r["up"] + r["down"]
        print(f"3. bytes per sample on the workers' sockets <= 1/8 of {HOSTS_BYTES_BEFORE:,.0f} ({precision}): {moved:,.0f} "
              f"= 1/{HOSTS_BYTES_BEFORE / moved:.1f}  {verdict(moved * 8 <= HOSTS_BYTES_BEFORE)}")


def print_sweep(sweep):
    print()
    print(f"{HOSTS_MODEL} with every link at {SWEEP_RATE} each way, {SWEEP_SAMPLES} samples, global batch {HOSTS_BATCH}")
    print(f"{'workers':>7} {'gradients':>9} {'samples/s':>10} {'step ms':>8} {'up B/sample':>12} {'down B/sample':>14}")
    for (n, precision), r in sweep.items():
        print(f"{n:>7} {precision:>9} {r['rate']:>10.0f} {r['step'] * 1000:>8.0f} {r['up']:>12,.0f} {r['down']:>14,.0f}")
    print("(docs/scaling.md predicts these from the bytes a step moves over the server's link and the compute per sample)")


def measure_hosts(args, scratch):
    if os.geteuid() != 0:
        raise BenchError("--hosts needs root: it makes network namespaces (scripts/hosts)")
    samples = 3072 if args.quick else 6144
    busy = cpu_busy_share()
    bp = Backprop(args.bin, scratch)
    train = bp.train(HOSTS_MODEL, samples, HOSTS_BATCH, 2)
    hosts = Hosts(HOSTS_WORKERS + 1)
    try:
        rows = {(rate, precision, curve): bp.hosts_cluster(hosts, samples, rate, precision=precision, steps=precision, curve=curve)
                for rate, precision, curve in HOSTS_ROWS}
        # Where the link, not the cores, sets the pace: docs/scaling.md's model checked against these.
        sweep = {(n, precision): bp.hosts_cluster(hosts, SWEEP_SAMPLES, SWEEP_RATE, workers=n, precision=precision)
                 for n, precision in SWEEP} if args.sweep else {}
    finally:
        stop_children()
        hosts.down()
    print_hosts(args, samples, train, rows, busy)
    if sweep:
        print_sweep(sweep)
# ---------------------------------------------------------------- image folders (--folders)

PEER_NAMES = {"torch": "PyTorch", "keras": "Keras"}


def print_folder_decode(rows):
    print()
    print("decoding into the image cache: the first run's images/s (every core), Pillow's decode of the same files on one")
    print("thread beside it; then a run that finds the cache current")
    print(f"{'files':<32} {'target':<17} {'images/s':>9} {'Pillow 1 thread':>15} {'peak RSS':>9} {'cached run':>10}")
    for (files, size, color), r in rows.items():
        pillow = f"{r['pillow']:.0f}" if r["pillow"] else "n/a"
        print(f"{files:<32} {size + ' ' + color:<17} {r['rate']:>9} {pillow:>15} {mb(r['rss']):>9} {r['cached_seconds']:>9.2f}s")


def print_folder_epochs(samples, bp, peers, notes):
    c, w, i = bp["cold"], bp["warm"], bp["idx"]
    print()
    print(f"one epoch of {FOLDER_MODEL} (batch {FOLDER_BATCH}) on {samples} Fashion-MNIST PNGs (28x28, 10 classes), "
          "the files in the OS page cache")
    print(" cold: the first epoch from the image files, nothing decoded before (Backprop: from launch, with its decode;")
    print("       the peers: from listing the files, after Python and the library are loaded)")
    print(" warm: the best later epoch (Backprop: of a run that finds its cache current, best of 2 epochs in each of 2 runs;")
    print("       PyTorch: ImageFolder decodes every file again each epoch; Keras: from its .cache() in memory)")
    print(f"{'system':<58} {'cold s':>7} {'samples/s':>9} {'warm s':>7} {'samples/s':>9}")

    def row(name, cold, warm):
        cold_text = (f"{cold:>7.2f} {samples / cold:>9.0f}") if cold else f"{'-':>7} {'-':>9}"
        print(f"{name:<58} {cold_text} {warm:>7.2f} {samples / warm:>9.0f}")

    row(f"Backprop folder:DIR, {FOLDER_THREADS} threads", c["first_epoch"], w["epoch"])
    row(f"Backprop idx:DIR, the same images, {FOLDER_THREADS} threads", None, i["epoch"])
    if "torch" in peers:
        row(f"PyTorch ImageFolder + DataLoader({TORCH_LOADERS} workers), {plural(TORCH_FOLDER_THREADS, 'thread')}", *peers["torch"])
    if "keras" in peers:
        row(f"Keras image_dataset_from_directory + .cache(), {FOLDER_THREADS} threads", *peers["keras"])
    print(f"Backprop, launch to first step: folder:DIR decoding {c['startup']:.2f} s, folder:DIR cached {w['startup']:.2f} s, "
          f"idx:DIR (gzip'd) {i['startup']:.2f} s")
    for note in notes:
        print(f"note: {note}")


def print_folder_targets(samples, bp, peers):
    def verdict(ok):
        return "met" if ok else "NOT met"

    folder_rate, idx_rate = samples / bp["warm"]["epoch"], samples / bp["idx"]["epoch"]
    print()
    print("targets (image folders)")
    print("1. a warm epoch from a folder as fast as the same images from IDX (within 5%): "
          f"{folder_rate:.0f} vs {idx_rate:.0f} samples/s = {folder_rate / idx_rate:.2f}x  {verdict(folder_rate >= 0.95 * idx_rate)}")
    fastest = min(((cold, name) for name, (cold, _) in peers.items()), default=None)
    ours = bp["cold"]["first_epoch"]
    if fastest is None:
        print(f"2. a cold first epoch at least 2x the faster peer: {ours:.2f} s vs n/a (no peer ran)")
    else:
        print(f"2. a cold first epoch at least 2x the faster peer: {ours:.2f} s vs {fastest[0]:.2f} s "
              f"({PEER_NAMES[fastest[1]]}) = {fastest[0] / ours:.1f}x  {verdict(fastest[0] >= 2 * ours)}")


def measure_folders(args, scratch):
    """--folders: decoding JPEG photos and 28x28 PNGs into the cache, then one epoch of FOLDER_MODEL from a folder of
    Fashion-MNIST PNGs, cold and warm, with Backprop, PyTorch and Keras, and from the same images' IDX files."""
    bp = Backprop(args.bin, scratch)
    busy = cpu_busy_share()
    photos, samples = (400, 2000) if args.quick else (2000, 6000)
    print(f"scripts/bench --folders{' --quick' if args.quick else ''}: release build, {os.cpu_count()} cores ({cpu_name()})")
    if busy >= 0.10:
        print(f"warning: other processes kept {busy:.0%} of the CPU busy just before the run: every figure is low")

    fashion = os.path.join(scratch, "fashion")
    made = subprocess.run([sys.executable, os.path.join(HERE, "..", "scripts", "fashion-mnist-folder"), fashion,
                           "--source", args.fashion_mnist, "--limit", str(samples)], capture_output=True, text=True)
    if made.returncode != 0:
        raise BenchError(f"scripts/fashion-mnist-folder failed: {(made.stderr.strip().splitlines() or ['?'])[-1]}")
    pngs = os.path.join(fashion, "train")
    jpegs = os.path.join(scratch, "photos256")
    if not write_photos(jpegs, photos, 256, 256):
        raise BenchError("Python's Pillow, which writes the photos, is not installed (scripts/setup --tests)")

    rows = {}
    for size, color in (("28x28", "grayscale"), ("128x128", "rgb")):
        rows[f"{photos} JPEG photos, 256x256", size, color] = r = bp.decode(jpegs, size, color)
        r["pillow"] = pillow_decode_rate(jpegs, size, color)
    rows[f"{samples} PNGs, 28x28 (Fashion-MNIST)", "28x28", "grayscale"] = r = bp.decode(pngs, "28x28", "grayscale", classes=10)
    r["pillow"] = pillow_decode_rate(pngs, "28x28", "grayscale", pattern="*/*.png")
    print_folder_decode(rows)

    # The peers read the folder first, before Backprop has a cache of it.
    shutil.rmtree(os.path.join(os.path.dirname(os.path.abspath(pngs)), ".backprop-cache"), ignore_errors=True)
    peers = Peers(args, {}) if (args.torch_python or args.keras_python) else None
    found = peers.folder(pngs) if peers else {}
    notes = peers.notes if peers else ["no peer given (scripts/bench --folders installs PyTorch and TensorFlow)"]
    mine = bp.folder_epochs(pngs, args.fashion_mnist, samples, rounds=2)
    print_folder_epochs(samples, mine, found, notes)
    print_folder_targets(samples, mine, found)


# ---------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True, help="directory of the release build's executables")
    p.add_argument("--quick", action="store_true", help="fewer samples and start-up probes: a smoke run")
    p.add_argument("--peers", action="store_true", help="run the peers that are given, and say why any is missing")
    p.add_argument("--torch-python", help="a python that imports torch")
    p.add_argument("--preload", default="", help="LD_PRELOAD for PyTorch (tcmalloc)")
    p.add_argument("--keras-python", help="a python that imports tensorflow")
    p.add_argument("--peers-note", action="append", default=[], help="a line to print under the peers' tables")
    p.add_argument("--hosts", action="store_true", help="only the cluster across network-namespace hosts (root)")
    p.add_argument("--sweep", action="store_true", help="with --hosts: also 1 to 3 worker hosts on 100 Mbit/s links, and bfloat16")
    p.add_argument("--folders", action="store_true",
                   help="only the image-folder bench: decoding into the cache, and epochs from a folder against the peers and IDX")
    p.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist",
                   help="--folders: Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist)")
    args = p.parse_args()

    small, large = (3000, 300) if args.quick else (12000, 1500)
    samples = {"seed-cnn": small, "mnist-cnn": small, "large-cnn": large}
    scratch = tempfile.mkdtemp(prefix="backprop-bench.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if args.hosts:
            measure_hosts(args, scratch)
        elif args.folders:
            measure_folders(args, scratch)
        else:
            measure_and_print(args, samples, scratch)
        return 0
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        stop_children()
        shutil.rmtree(scratch, ignore_errors=True)


def measure_and_print(args, samples, scratch):
    bp = Backprop(args.bin, scratch)
    print_header(args, bp, samples)
    pythons = [(sys.executable, "")] + ([(args.torch_python, args.preload)] if args.torch_python else [])
    peak = gemm_peak(pythons)
    flops = {m: bp.flops_per_sample(m) for m in MODEL_DATA}
    print_machine(peak, flops)

    train = {(m, b, t): bp.train(m, samples[m], b, t) for m in MODEL_DATA for b in (32, 128) for t in (1, 2)}
    print_train(train, peak, flops)
    cluster = {(m, n): bp.cluster(m, samples[m], n) for m in ("seed-cnn", "large-cnn") for n in (1, 2, 4)}
    print_cluster(cluster)

    photos = 400 if args.quick else 2000
    photo_dir = os.path.join(scratch, "photos")
    folder = None
    if write_photos(photo_dir, photos):
        folder = {}
        for size, color in (("28x28", "grayscale"), ("128x128", "rgb")):
            folder[(size, color)] = bp.decode(photo_dir, size, color)
            folder[(size, color)]["pillow"] = pillow_decode_rate(photo_dir, size, color)
    print_folder(folder, photos)

    local = [(cluster_rate, train_rate) for train_rate, cluster_rate in
             bp.local_cluster_share(samples["seed-cnn"], 3 if args.quick else 5)]

    probes = 3 if args.quick else 7
    joined, ready = bp.startup(samples["seed-cnn"], probes)
    print()
    print(f"worker start-up (seed-cnn, {samples['seed-cnn']} samples, joining a server that is training; median of {probes}):")
    print(f"  launch -> worker_joined {joined * 1000:.0f} ms; "
          f"launch -> worker_admitted (data loaded, computing) {ready * 1000:.0f} ms")

    peers = None
    if args.peers:
        busy = cpu_busy_share()
        peers = Peers(args, samples)
        peers.measure()
        print_peers(args, peers, train, cluster, bp.threads_flag, busy)
    print_targets(train, cluster, peers, ready, local)


if __name__ == "__main__":
    sys.exit(main())
