"""pydl's CUDA kernels against PyTorch CUDA, side by side in one run, as one table.

    python scripts/bench_gpu.py [--device cuda|cuda-sim] [--quick] [--repeats N]

Workloads (the targets of the CUDA issue, on an H200): one epoch of the 784-256-128-64-10 ReLU MLP at
batch 100 on 60000 MNIST-shaped images and one epoch of bench.py's CNN on 10000 (both faster than PyTorch
CUDA), sigmoid of 100M float32 (>= 80% of PyTorch's speed), a 4096^3 float32 GEMM (>= 50% of PyTorch's
matmul). Data are synthetic images of MNIST's shape (the GPU machine has no data set). Times are medians
of --repeats after one warm-up, with the device synchronised before each clock read. An epoch's time is
that of --epochs epochs in one fit (PyTorch: one loop) divided by their number, so pydl's one upload and
check of the data per fit counts once per --epochs. --device cuda-sim
--quick runs the same code on tiny sizes through the CPU simulator: a smoke test of this script.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

MLP = [784, 256, 128, 64, 10]
FULL = {"mlp_n": 60000, "cnn_n": 10000, "sigmoid_n": 100_000_000, "gemm": 4096}
QUICK = {"mlp_n": 300, "cnn_n": 64, "sigmoid_n": 5000, "gemm": 48}


def images(n, shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, 10, n)


def timed(run, sync, repeats):
    """Median and min seconds of run() over repeats, after one warm-up call."""
    run()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


# ---- pydl ------------------------------------------------------------------------------------------

def pydl_mlp(device, n, epochs):
    import pydl
    from pydl import nn, optim

    layers = []
    for i in range(len(MLP) - 1):
        layers.append(nn.Dense(MLP[i], MLP[i + 1]))
        if i < len(MLP) - 2:
            layers.append(nn.ReLU())
    net = pydl.Network(layers, loss="cross_entropy", optimizer=optim.SGD(lr=0.1), device=device, seed=0)
    x, y = images(n, (784,))
    return lambda: net.fit(x, y, epochs=epochs, batch_size=100, verbose=0)


def cnn_layers(nn, dense):
    return [nn.Conv2D(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2), nn.Conv2D(16, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2D(2), nn.Flatten(), dense(1568, 128), nn.ReLU(), dense(128, 10)]


def pydl_cnn(device, n, epochs):
    import pydl
    from pydl import nn, optim

    net = pydl.Network(cnn_layers(nn, nn.Dense), loss="cross_entropy", optimizer=optim.Adam(lr=1e-3), device=device,
                       seed=0)
    x, y = images(n, (1, 28, 28))
    return lambda: net.fit(x, y, epochs=epochs, batch_size=64, verbose=0)


def pydl_sigmoid(module, n):
    x = module.from_numpy(np.random.default_rng(0).normal(size=n).astype(np.float32))
    out = module.empty((n,), np.float32)
    return lambda: module.sigmoid(x, out=out)


def pydl_gemm(module, size):
    rng = np.random.default_rng(0)
    a, b = (module.from_numpy(rng.random((size, size), dtype=np.float32)) for _ in range(2))
    out = module.empty((size, size), np.float32)
    return lambda: module.matmul(a, b, out=out)


# ---- PyTorch ---------------------------------------------------------------------------------------

def torch_mlp(torch, n, epochs):
    torch.manual_seed(0)
    layers = []
    for i in range(len(MLP) - 1):
        layers.append(torch.nn.Linear(MLP[i], MLP[i + 1]))
        if i < len(MLP) - 2:
            layers.append(torch.nn.ReLU())
    return torch_epoch(torch, torch.nn.Sequential(*layers), torch.optim.SGD, 0.1, images(n, (784,)), 100, epochs)


def torch_cnn(torch, n, epochs):
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(*cnn_layers(_TorchNames(nn), nn.Linear))
    return torch_epoch(torch, model, torch.optim.Adam, 1e-3, images(n, (1, 28, 28)), 64, epochs)


class _TorchNames:
    """pydl's layer names for PyTorch's, so that both networks come from one list."""

    def __init__(self, nn):
        self.Conv2D, self.ReLU, self.MaxPool2D, self.Flatten = nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten


def torch_epoch(torch, model, optimizer_class, lr, data, batch, epochs):
    model = model.cuda()
    optimizer = optimizer_class(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = (torch.from_numpy(a).cuda() for a in data)

    def run():
        for _ in range(epochs):
            perm = torch.randperm(len(x), device="cuda")
            total = torch.zeros((), device="cuda")
            for s in range(0, len(x), batch):
                idx = perm[s:s + batch]
                optimizer.zero_grad()
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                optimizer.step()
                total += loss.detach()
            total.item()  # one read of the epoch's loss, as fit reports it
    return run


def torch_sigmoid(torch, n):
    x = torch.from_numpy(np.random.default_rng(0).normal(size=n).astype(np.float32)).cuda()
    out = torch.empty_like(x)
    return lambda: torch.sigmoid(x, out=out)


def torch_gemm(torch, size):
    a, b = (torch.rand(size, size, device="cuda") for _ in range(2))
    out = torch.empty(size, size, device="cuda")
    return lambda: torch.mm(a, b, out=out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", choices=("cuda", "cuda-sim"))
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test; with --device cuda-sim, seconds)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=3, help="epochs per timed fit; the table shows one epoch's time")
    args = p.parse_args()

    import pydl

    try:
        backend = pydl.backends.get(args.device)
    except RuntimeError as error:  # no GPU, no driver, or built without nvcc: the message says which
        print(f"bench_gpu: {error}", file=sys.stderr)
        return 1
    module = backend.module
    sizes = QUICK if args.quick else FULL
    torch = None
    if args.device == "cuda":
        try:
            import torch
            if not torch.cuda.is_available():
                torch = None
        except ImportError:
            torch = None

    e = args.epochs
    rows = [  # (name, size, pydl, PyTorch, calls per timed run, target)
        ("MLP epoch, batch 100", f"{sizes['mlp_n']} images", lambda: pydl_mlp(args.device, sizes["mlp_n"], e),
         lambda: torch_mlp(torch, sizes["mlp_n"], e), e, "faster than PyTorch"),
        ("CNN epoch, batch 64", f"{sizes['cnn_n']} images", lambda: pydl_cnn(args.device, sizes["cnn_n"], e),
         lambda: torch_cnn(torch, sizes["cnn_n"], e), e, "faster than PyTorch"),
        ("sigmoid float32", f"{sizes['sigmoid_n']:,} values", lambda: pydl_sigmoid(module, sizes["sigmoid_n"]),
         lambda: torch_sigmoid(torch, sizes["sigmoid_n"]), 1, ">= 80% of PyTorch"),
        ("GEMM float32", f"{sizes['gemm']}^3", lambda: pydl_gemm(module, sizes["gemm"]),
         lambda: torch_gemm(torch, sizes["gemm"]), 1, ">= 50% of PyTorch"),
    ]
    print(f"# pydl {pydl.__version__} on {args.device} vs PyTorch CUDA; {platform.node()}; "
          f"load {os.getloadavg()[0]:.2f}; median of {args.repeats} (min); epochs per fit {e}")
    if torch is not None:
        print(f"# GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}")
    print("| workload | size | pydl | PyTorch | pydl speed / PyTorch's | target |")
    print("|---|---|---|---|---|---|")
    torch_sync = (lambda: torch.cuda.synchronize()) if torch is not None else (lambda: None)
    for name, size, make_pydl, make_torch, per_run, target in rows:
        med, low = (t / per_run for t in timed(make_pydl(), backend.synchronize, args.repeats))
        mine = f"{med * 1e3:.2f} ms ({low * 1e3:.2f})"
        theirs, ratio = "n/a", "n/a"
        if torch is not None:
            t_med, t_low = (t / per_run for t in timed(make_torch(), torch_sync, args.repeats))
            theirs, ratio = f"{t_med * 1e3:.2f} ms ({t_low * 1e3:.2f})", f"{t_med / med:.2f}x"
        print(f"| {name} | {size} | {mine} | {theirs} | {ratio} | {target} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
