"""Time pydl's conv2d against the NumPy im2col reference and, when installed, PyTorch on the CPU.

    python scripts/bench_conv.py [--quick] [--min-time 0.2] [--threads N]

Prints a Markdown table: forward and forward+backward (dx, dw, db) time and GFLOP/s per shape, float32,
with the speed-up of pydl over each. torch runs with as many threads as pydl. Each time is the best of
repeated calls after a warm-up call: on a machine shared with other jobs the fastest run is the one
least disturbed by them (a descheduled OpenMP thread can stall a call by a whole time slice).
--quick times each entry for 0.02 s instead (a few seconds in all: a smoke test, not a measurement).
"""
import argparse
import time

import numpy as np

import pydl
from pydl import kernels as K
from pydl import reference as R

# (N, C_in, H, W, C_out, k, stride, padding)
SHAPES = [
    (64, 1, 28, 28, 16, 3, 1, 1),
    (64, 3, 32, 32, 32, 5, 2, 2),
    (32, 32, 16, 16, 64, 3, 2, 1),
]


def operands(shape, rng=None):
    """x, w, b, dy (float32, seeded) and stride, padding for one entry of SHAPES."""
    n, c_in, h, wd, c_out, k, s, p = shape
    rng = rng or np.random.default_rng(0)
    x = rng.standard_normal((n, c_in, h, wd)).astype(np.float32)
    w = (rng.standard_normal((c_out, c_in, k, k)) / np.sqrt(c_in * k * k)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    dy = rng.standard_normal((n, c_out, ho, wo)).astype(np.float32)
    return x, w, b, dy, s, p


def label(shape):
    n, c_in, h, wd, c_out, k, s, p = shape
    return f"({n}, {c_in}, {h}, {wd}) -> {c_out} {k}x{k} /{s} pad {p}"


def best_time(fn, min_time):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def pydl_runners(mod, x, w, b, dy, s, p):
    def fwd():
        mod.conv2d_forward(x, w, b, s, p)

    def fwd_bwd():
        mod.conv2d_forward(x, w, b, s, p)
        mod.conv2d_backward(x, w, dy, s, p)

    return fwd, fwd_bwd


def torch_runners(torch, x, w, b, dy, s, p):
    F = torch.nn.functional
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    tdy = torch.from_numpy(dy)

    def fwd():
        with torch.no_grad():
            F.conv2d(tx, tw, tb, stride=s, padding=p)

    def fwd_bwd():
        for t in (tx, tw, tb):
            t.grad = None
        F.conv2d(tx, tw, tb, stride=s, padding=p).backward(tdy)

    return fwd, fwd_bwd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="time each entry for 0.02 s (default --min-time 0.02)")
    ap.add_argument("--min-time", type=float, default=None,
                    help="seconds to spend timing each entry (default 0.2, 0.02 with --quick)")
    ap.add_argument("--threads", type=int, default=None, help="pydl (and torch) threads; default pydl's setting")
    args = ap.parse_args()
    if args.min_time is None:
        args.min_time = 0.02 if args.quick else 0.2
    if args.threads:
        pydl.set_num_threads(args.threads)
    threads = pydl.get_num_threads()
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None

    info = pydl.build_info()
    print(f"pydl {info['version']}, gemm: {info['gemm']}, simd: {info['simd']}, threads: {threads}, "
          f"numpy {info['numpy']}" + (f", torch {torch.__version__}" if torch else ", torch not installed"))
    print()
    cols = ["shape (N, C_in, H, W) -> C_out kxk /s pad", "pass", "pydl ms", "pydl GFLOP/s", "numpy ms",
            "numpy GFLOP/s", "pydl vs numpy"]
    if torch:
        cols += ["torch ms", "torch GFLOP/s", "pydl vs torch"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")

    rng = np.random.default_rng(0)
    for shape in SHAPES:
        x, w, b, dy, s, p = operands(shape, rng)
        n, c_out, ho, wo = dy.shape
        fwd_flop = 2.0 * n * c_out * ho * wo * w[0].size
        runners = {"pydl": pydl_runners(K, x, w, b, dy, s, p), "numpy": pydl_runners(R, x, w, b, dy, s, p)}
        if torch:
            runners["torch"] = torch_runners(torch, x, w, b, dy, s, p)
        for i, (pass_name, flop) in enumerate([("forward", fwd_flop), ("fwd+bwd", 3 * fwd_flop)]):
            t = {name: best_time(r[i], args.min_time) for name, r in runners.items()}
            row = [label(shape) if i == 0 else "", pass_name]
            row += [f"{t['pydl'] * 1e3:.2f}", f"{flop / t['pydl'] / 1e9:.1f}"]
            row += [f"{t['numpy'] * 1e3:.2f}", f"{flop / t['numpy'] / 1e9:.1f}", f"{t['numpy'] / t['pydl']:.1f}x"]
            if torch:
                row += [f"{t['torch'] * 1e3:.2f}", f"{flop / t['torch'] / 1e9:.1f}", f"{t['torch'] / t['pydl']:.2f}x"]
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
