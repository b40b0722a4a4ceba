"""The machine's single-precision GEMM speed, for scripts/bench's GFLOP/s column.

Multiplies two 1024x1024 float32 matrices with each library this Python can import
(NumPy's BLAS; PyTorch's, when run from the peers' virtualenv) and prints, per library,

    gemm <library> <threads> <gflops>

the best of several timed rounds (2 * 1024^3 FLOPs per product). The thread count must be
fixed before the library loads, so scripts/bench runs this once per thread count with
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS set, and passes it as --threads.
"""
import argparse
import sys
import time

N = 1024


def best_gflops(multiply, rounds):
    multiply()  # warm-up: thread pools, page faults
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        multiply()
        best = min(best, time.perf_counter() - t0)
    return 2 * N ** 3 / best / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=10)
    args = p.parse_args()
    try:
        import numpy as np
        rng = np.random.default_rng(0)
        a = rng.random((N, N), dtype=np.float32)
        b = rng.random((N, N), dtype=np.float32)
        print(f"gemm numpy {args.threads} {best_gflops(lambda: a @ b, args.rounds):.1f}", flush=True)
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(args.threads)
        a = torch.rand(N, N)
        b = torch.rand(N, N)
        print(f"gemm torch {args.threads} {best_gflops(lambda: torch.mm(a, b), args.rounds):.1f}", flush=True)
    except ImportError:
        pass


if __name__ == "__main__":
    sys.exit(main())
