"""pydl's kernels next to NumPy, measured side by side in one run; prints Markdown tables.

    python scripts/bench_kernels.py [--quick] [--threads N]

Each row times pydl and NumPy one after the other in this process and reports medians.
NumPy's BLAS runs with its own thread count: it is matched to --threads only when threadpoolctl is
installed. OPENBLAS_CORETYPE / OPENBLAS_NUM_THREADS in the environment change NumPy's speed; both are shown.
"""
import argparse
import os
import time

import numpy as np

import pydl
from pydl import kernels as K


# After a NumPy matmul, OpenBLAS's idle worker threads keep spinning for ~0.2 s (measured here: pydl's
# 2-thread GEMM runs 2x slower meanwhile), so each contender gets the cores to itself: its samples run
# as one block, started after this pause.
SETTLE_SECONDS = 0.5


def median_times(fns, repeats, min_seconds):
    """Median seconds per call of each fn; each sample loops the fn for >= min_seconds."""
    medians = []
    for fn in fns:
        time.sleep(SETTLE_SECONDS)
        fn()  # warm caches and pydl's packing buffers
        n = 1
        while True:
            start = time.perf_counter()
            for _ in range(n):
                fn()
            if time.perf_counter() - start >= min_seconds:
                break
            n *= 2
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples.append((time.perf_counter() - start) / n)
        medians.append(float(np.median(samples)))
    return medians


def gemm_table(rng, cfg):
    shapes = [(100, 784, 256), (100, 256, 128), (50, 784, 256)] + ([] if cfg.quick else [(1024, 1024, 1024)])
    yield "| GEMM float32 (m x k)(k x n) | pydl GFLOP/s | numpy GFLOP/s | pydl / numpy |"
    yield "|---|---:|---:|---:|"
    for m, k, n in shapes:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        c1, c2 = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
        t_pydl, t_np = median_times([lambda: K.matmul(a, b, c1), lambda: np.matmul(a, b, out=c2)], cfg.repeats,
                                    cfg.min_seconds)
        flops = 2.0 * m * n * k
        yield f"| ({m}x{k})({k}x{n}) | {flops / t_pydl / 1e9:.1f} | {flops / t_np / 1e9:.1f} | {t_np / t_pydl:.2f} |"


def numpy_dense(x, w, b, dy):
    y = np.maximum(x @ w + b, 0)
    return y, dy @ w.T, x.T @ dy, dy.sum(axis=0)


def dense_table(rng, cfg):
    layers = [(100, 784, 256), (100, 256, 128), (100, 128, 10)]
    yield "| dense relu forward+backward, float32 (N, in, out) | pydl us | numpy us | numpy / pydl |"
    yield "|---|---:|---:|---:|"
    for n, n_in, n_out in layers:
        x = rng.standard_normal((n, n_in)).astype(np.float32)
        w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        b = rng.standard_normal(n_out).astype(np.float32)
        dy = rng.standard_normal((n, n_out)).astype(np.float32)
        y, dx, dw, db = (np.empty((n, n_out), np.float32), np.empty((n, n_in), np.float32),
                         np.empty((n_in, n_out), np.float32), np.empty(n_out, np.float32))

        def pydl_layer():
            K.dense_forward(x, w, b, "relu", out=y)
            K.dense_backward(x, w, dy, dx=dx, dw=dw, db=db)

        t_pydl, t_np = median_times([pydl_layer, lambda: numpy_dense(x, w, b, dy)], cfg.repeats, cfg.min_seconds)
        yield f"| ({n}, {n_in}, {n_out}) | {t_pydl * 1e6:.1f} | {t_np * 1e6:.1f} | {t_np / t_pydl:.2f} |"


def numpy_sigmoid(x, out):
    np.exp(-np.abs(x), out=out)  # e = exp(-|x|) in (0, 1]: never overflows
    s = 1 / (1 + out)
    np.copyto(out, np.where(x >= 0, s, out * s))


def sigmoid_table(rng, cfg):
    n = 10_000_000
    x = rng.standard_normal(n).astype(np.float32) * 4
    y = np.empty_like(x)
    bytes_moved = 2 * x.nbytes  # read x, write y
    yield "| 10M float32, out= preallocated | GB/s | % of copy |"
    yield "|---|---:|---:|"
    fns = {"np.copyto (memory copy)": lambda: np.copyto(y, x), "numpy stable sigmoid": lambda: numpy_sigmoid(x, y)}
    if hasattr(K, "sigmoid"):
        fns["pydl.kernels.sigmoid"] = lambda: K.sigmoid(x, out=y)
    times = dict(zip(fns, median_times(list(fns.values()), cfg.repeats, cfg.min_seconds)))
    copy = times["np.copyto (memory copy)"]
    for name, t in times.items():
        yield f"| {name} | {bytes_moved / t / 1e9:.1f} | {100 * copy / t:.0f}% |"
    if not hasattr(K, "sigmoid"):
        yield "| pydl.kernels.sigmoid | - | not in this build |"


def numpy_blas_info(threads):
    try:
        import threadpoolctl
    except ImportError:
        return None, "threadpoolctl not installed: NumPy's BLAS uses its default thread count"
    limiter = threadpoolctl.threadpool_limits(limits=threads, user_api="blas")
    info = "; ".join(f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} "
                     f"threads={p.get('num_threads')}" for p in threadpoolctl.threadpool_info())
    return limiter, info


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no 1024^3 GEMM")
    parser.add_argument("--threads", type=int, default=pydl.get_num_threads(), help="threads for pydl (and BLAS)")
    cfg = parser.parse_args()
    cfg.repeats, cfg.min_seconds = (5, 0.02) if cfg.quick else (15, 0.05)
    pydl.set_num_threads(cfg.threads)
    limiter, blas = numpy_blas_info(cfg.threads)

    info = pydl.build_info()
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ}
    print(f"pydl {info['version']}: gemm {info['gemm']}, simd {info['simd']}, {info['openmp']}, "
          f"threads {pydl.get_num_threads()}; numpy {np.__version__}")
    print(f"NumPy BLAS: {blas}; environment: {env or 'no BLAS/OpenMP variables set'}\n")
    rng = np.random.default_rng(0)
    for table in (gemm_table, dense_table, sigmoid_table):
        for row in table(rng, cfg):  # row by row: a full run's table takes tens of seconds
            print(row, flush=True)
        print()
    if limiter is not None:
        limiter.restore_original_limits()


if __name__ == "__main__":
    main()
