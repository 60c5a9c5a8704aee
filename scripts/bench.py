"""Training speed, side by side in one run: pydl's native loop, pydl's Python path, the NumPy reference
backend, a plain NumPy loop of the kind a student writes, and PyTorch (when installed).

    python scripts/bench.py [--quick] [--repeats N] [--data DIR] [--json PATH]

Workloads: the seed reports' toy classifiers (000: 2->1, 2->1->1, 2->3->1, sigmoid + BCE, SGD lr 5,
1000 full-batch epochs of 1000 samples; 001: 2->3->1 with Adam lr 0.01 and MSE at batch sizes 1, 32,
128, 1000), one epoch of a 784-256-128-64-10 ReLU MLP on MNIST (--data DIR, else
/work/shared/data/mnist, else synthetic data of that shape) at batch sizes 50 and 100 (also with BatchNorm1d and Dropout(0.2) after each hidden layer), one epoch of a
small CNN on 10k MNIST images (conv 16 and 32 channels, max pooling, Adam, batch 64), sigmoid on 10M
floats, the MLP's GEMM shapes, conv2d forward + backward at the three shapes of
scripts/bench_conv.py (which also times the forward alone, with GFLOP/s), 2x2 max pooling forward +
backward of the CNN's first pooling layer, (64, 16, 28, 28) float32, one Adam step on the CNN's 207k
float32 parameters with normal and with subnormal state, and a DataLoader epoch of CIFAR-10-shaped uint8
images with crop, flip and normalization.

Each pydl contender runs in a fresh subprocess, so the peak RSS reported (VmHWM, reset once the data is
built) is its own; the other contenders share one subprocess per workload (with --quick: one process for
every pydl contender, its peak reset before each, and one for all the others). Slow contenders time fewer
epochs than the workload has and are scaled up to it (the "timed" column says how many). Times are
medians over --repeats with min-max; "x native" is the median over pydl native's. The machine's load
average is printed: other processes on a shared machine slow every contender.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

MNIST_DIRS = [Path("/work/shared/data/mnist")]
THREADS_ENV = "PYDL_BENCH_THREADS"

# ---- data ---------------------------------------------------------------------------------------


def parabola(n=1000, seed=0):
    """The reports' toy data: x ~ U(-2, 2)^2, label x0^2 > x1 (pydl.datasets.make_parabola)."""
    from pydl.datasets import make_parabola

    return make_parabola(n, seed=seed)


def mnist(data_dir, n):
    """n MNIST training images as (n, 784) float32 in [0, 1] and labels, or synthetic ones of that shape."""
    for d in ([Path(data_dir)] if data_dir else MNIST_DIRS):
        images, labels = d / "train-images-idx3-ubyte.gz", d / "train-labels-idx1-ubyte.gz"
        if images.exists() and labels.exists():
            from pydl.datasets import read_idx

            x = read_idx(images)[:n].reshape(-1, 784).astype(np.float32) / 255
            return x, read_idx(labels)[:n].astype(np.int64), "MNIST"
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n), "synthetic"


# ---- contenders ---------------------------------------------------------------------------------
# Each builder returns run(epochs) for one workload; the harness times it.

def pydl_net(sizes, hidden, last, loss, opt, backend=None, seed=0, batch_norm=False, dropout=0.0):
    """Dense layers with activations; batch_norm puts a BatchNorm1d after each hidden Dense, dropout a
    Dropout(dropout) after each hidden activation."""
    import pydl
    from pydl import nn

    acts = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Dense(sizes[i], sizes[i + 1]))
        hidden_layer = i < len(sizes) - 2
        if batch_norm and hidden_layer:
            layers.append(nn.BatchNorm1d(sizes[i + 1]))
        act = last if not hidden_layer else hidden
        if act:
            layers.append(acts[act]())
        if dropout and hidden_layer:
            layers.append(nn.Dropout(dropout))
    return pydl.Network(layers, loss=loss, optimizer=opt, backend=backend, seed=seed)


def pydl_native(net, x, y, batch_size, seed=0):
    """What Network.fit does with the training plan: one call per epoch, or one call for all epochs
    when a full batch in order leaves nothing for Python to do between epochs."""
    from pydl.plan import TrainingPlan
    from pydl.training import draw_seeds

    x = np.ascontiguousarray(x, dtype=net.dtype)
    net._last_input_shape = x.shape[1:]
    plan = TrainingPlan.for_network(net)
    t = net.loss.prepare_target(y, net._output_shape(x.shape[1:], "bench"), net.dtype)
    labels = net.loss.target_labels(t)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    if batch_size is None or batch_size >= n:
        return lambda epochs: plan.run(x, t, labels, epochs)

    batches = -(-n // batch_size)

    def run(epochs):
        for _ in range(epochs):
            perm = rng.permutation(n)[None]
            plan.run(x, t, labels, 1, perm, batch_size, seeds=draw_seeds(rng, batches) if net._random else None)
    return run


def pydl_fit(net, x, y, batch_size):
    """Network.fit's Python loop (the native engine switched off where fit offers it); batch_size None is
    the full batch here, as in the reports (fit itself reads None as Keras' 32)."""
    if hasattr(net, "native"):
        net.native = False
    batch_size = "full" if batch_size is None else batch_size
    return lambda epochs: net.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def student_numpy(sizes, x, y, lr, batch_size=None, adam=False, seed=0):
    """A plain NumPy loop as in the seed reports: sigmoid layers, BCE + SGD (full batch) or
    MSE + Adam (mini-batches, reshuffled every epoch)."""
    rng = np.random.default_rng(seed)
    x = x.astype(np.float32)
    y = y.reshape(-1, 1).astype(np.float32)
    Ws = [rng.normal(0, 1, (a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b, np.float32) for b in sizes[1:]]
    params = Ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = [0]
    n = x.shape[0]
    batch = n if batch_size is None else batch_size

    def train_batch(xb, yb):
        acts = [xb]
        for W, b in zip(Ws, bs):
            acts.append(_sigmoid(acts[-1] @ W + b))
        out = acts[-1]
        if adam:
            d = 2 * (out - yb) / out.size  # MSE
        else:
            d = (out - yb) / out.size  # BCE through the sigmoid
        d = d if not adam else d * out * (1 - out)
        grads_W, grads_b = [], []
        for i in range(len(Ws) - 1, -1, -1):
            grads_W.insert(0, acts[i].T @ d)
            grads_b.insert(0, d.sum(axis=0))
            if i:
                d = (d @ Ws[i].T) * acts[i] * (1 - acts[i])
        grads = grads_W + grads_b
        if adam:
            step[0] += 1
            t = step[0]
            for p, g, mi, vi in zip(params, grads, m, v):
                mi *= 0.9
                mi += 0.1 * g
                vi *= 0.999
                vi += 0.001 * g * g
                p -= lr * (mi / (1 - 0.9 ** t)) / (np.sqrt(vi / (1 - 0.999 ** t)) + 1e-8)
        else:
            for p, g in zip(params, grads):
                p -= lr * g

    def run(epochs):
        for _ in range(epochs):
            if batch >= n:
                train_batch(x, y)
                continue
            perm = rng.permutation(n)
            xs, ys = x[perm], y[perm]
            for s in range(0, n, batch):
                train_batch(xs[s:s + batch], ys[s:s + batch])
    return run


def student_mlp(sizes, x, labels, lr, batch_size, seed=0):
    """A plain NumPy MLP as in report 003: ReLU hidden layers, softmax cross-entropy, mini-batch SGD."""
    rng = np.random.default_rng(seed)
    x = x.astype(np.float32)
    onehot = np.eye(sizes[-1], dtype=np.float32)[labels]
    Ws = [(rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b, np.float32) for b in sizes[1:]]
    n = x.shape[0]

    def train_batch(xb, tb):
        acts = [xb]
        for i, (W, b) in enumerate(zip(Ws, bs)):
            z = acts[-1] @ W + b
            acts.append(np.maximum(z, 0) if i < len(Ws) - 1 else z)
        z = acts[-1]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        d = (e / e.sum(axis=1, keepdims=True) - tb) / xb.shape[0]
        for i in range(len(Ws) - 1, -1, -1):
            gW, gb = acts[i].T @ d, d.sum(axis=0)
            if i:
                d = (d @ Ws[i].T) * (acts[i] > 0)
            Ws[i] -= lr * gW
            bs[i] -= lr * gb

    def run(epochs):
        for _ in range(epochs):
            perm = rng.permutation(n)
            xs, ts = x[perm], onehot[perm]
            for s in range(0, n, batch_size):
                train_batch(xs[s:s + batch_size], ts[s:s + batch_size])
    return run


def torch_loop(sizes, hidden, last, loss, opt, lr, x, y, batch_size, seed=0):
    import torch

    torch.manual_seed(seed)
    acts = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        act = last if i == len(sizes) - 2 else hidden
        if act:
            layers.append(acts[act]())
    model = torch.nn.Sequential(*layers)
    loss_fn = {"bce": torch.nn.BCELoss, "mse": torch.nn.MSELoss, "cross_entropy": torch.nn.CrossEntropyLoss}[loss]()
    optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[opt](model.parameters(), lr=lr)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(y) if loss == "cross_entropy" else torch.from_numpy(y.reshape(-1, 1).astype(np.float32))
    n = xt.shape[0]
    batch = n if batch_size is None else batch_size

    def step(xb, yb):
        optimizer.zero_grad()
        loss_fn(model(xb), yb).backward()
        optimizer.step()

    def run(epochs):
        for _ in range(epochs):
            if batch >= n:
                step(xt, yt)
                continue
            perm = torch.randperm(n)
            for s in range(0, n, batch):
                idx = perm[s:s + batch]
                step(xt[idx], yt[idx])
    return run


# ---- workloads ----------------------------------------------------------------------------------
# name -> (full epochs, {contender: builder returning run(epochs)}); the order puts pydl first.

TOY_MODELS = {"000 model 1 (2-1)": [2, 1], "000 model 2 (2-1-1)": [2, 1, 1], "000 model 3 (2-3-1)": [2, 3, 1]}


def toy_workload(sizes):
    from pydl import optim

    def data():
        return parabola()

    def net(backend=None):
        return pydl_net(sizes, "sigmoid", "sigmoid", "bce", optim.SGD(lr=5.0), backend)

    return 1000, {
        "pydl native": lambda: pydl_native(net(), *data(), None),
        "pydl fit (Python loop)": lambda: pydl_fit(net(), *data(), None),
        "pydl NumPy backend": lambda: pydl_fit(net("numpy"), *data(), None),
        "NumPy student": lambda: student_numpy(sizes, *data(), lr=5.0),
        "PyTorch": lambda: torch_loop(sizes, "sigmoid", "sigmoid", "bce", "sgd", 5.0, *data(), None),
    }


def sweep_workload(batch_size):
    from pydl import optim

    def data():
        return parabola()

    def net(backend=None):
        return pydl_net([2, 3, 1], "sigmoid", "sigmoid", "mse", optim.Adam(lr=0.01), backend)

    return 1000, {
        "pydl native": lambda: pydl_native(net(), *data(), batch_size),
        "pydl fit (Python loop)": lambda: pydl_fit(net(), *data(), batch_size),
        "pydl NumPy backend": lambda: pydl_fit(net("numpy"), *data(), batch_size),
        "NumPy student": lambda: student_numpy([2, 3, 1], *data(), lr=0.01, batch_size=batch_size, adam=True),
        "PyTorch": lambda: torch_loop([2, 3, 1], "sigmoid", "sigmoid", "mse", "adam", 0.01, *data(), batch_size),
    }


MLP = [784, 256, 128, 64, 10]


def mlp_workload(batch_size, n, data_dir):
    from pydl import optim

    def data():
        return mnist(data_dir, n)[:2]

    def net(backend=None):
        return pydl_net(MLP, "relu", None, "cross_entropy", optim.SGD(lr=0.1), backend)

    def regularized():
        return pydl_net(MLP, "relu", None, "cross_entropy", optim.SGD(lr=0.1), batch_norm=True, dropout=0.2)

    return 1, {
        "pydl native": lambda: pydl_native(net(), *data(), batch_size),
        "pydl native, BatchNorm1d + Dropout(0.2) after each hidden layer": lambda: pydl_native(regularized(), *data(),
                                                                                             batch_size),
        "pydl fit (Python loop)": lambda: pydl_fit(net(), *data(), batch_size),
        "pydl NumPy backend": lambda: pydl_fit(net("numpy"), *data(), batch_size),
        "NumPy student": lambda: student_mlp(MLP, *data(), lr=0.1, batch_size=batch_size),
        "PyTorch": lambda: torch_loop(MLP, "relu", None, "cross_entropy", "sgd", 0.1, *data(), batch_size),
    }


def cnn_workload(n, data_dir):
    """One epoch of the one-engine issue's MNIST CNN: Conv 1->16 3x3 pad 1, ReLU, MaxPool 2, Conv 16->32 3x3
    pad 1, ReLU, MaxPool 2, Flatten, Dense 1568->128, ReLU, Dense 128->10; Adam 1e-3, batch 64."""
    def data():
        x, y = mnist(data_dir, n)[:2]
        return x.reshape(-1, 1, 28, 28), y

    def pydl_cnn(native):
        import pydl
        from pydl import nn, optim

        net = pydl.Network([nn.Conv2D(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2),
                            nn.Conv2D(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(),
                            nn.Dense(1568, 128), nn.ReLU(), nn.Dense(128, 10)],
                           loss="cross_entropy", optimizer=optim.Adam(lr=1e-3), seed=0)
        net.native = native
        x, y = data()
        return lambda epochs: net.fit(x, y, epochs=epochs, batch_size=64, verbose=0)

    def torch_cnn():
        import torch

        torch.manual_seed(0)
        nn = torch.nn
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()
        x, y = (torch.from_numpy(a) for a in data())

        def run(epochs):
            for _ in range(epochs):
                perm = torch.randperm(len(x))
                for s in range(0, len(x), 64):
                    idx = perm[s:s + 64]
                    optimizer.zero_grad()
                    loss_fn(model(x[idx]), y[idx]).backward()
                    optimizer.step()
        return run

    return 1, {"pydl fit (plan)": lambda: pydl_cnn(True), "pydl fit (Python loop)": lambda: pydl_cnn(False),
               "PyTorch": torch_cnn}


def sigmoid_workload(n):
    def data():
        return np.random.default_rng(0).normal(size=n).astype(np.float32)

    def pydl_kernel(module):
        x = data()
        out = np.empty_like(x)
        return lambda reps: [module.sigmoid(x, out=out) for _ in range(reps)]

    def numpy_student():
        x = data()
        return lambda reps: [1 / (1 + np.exp(-x)) for _ in range(reps)]

    def torch_sigmoid():
        import torch

        x = torch.from_numpy(data())
        out = torch.empty_like(x)
        return lambda reps: [torch.sigmoid(x, out=out) for _ in range(reps)]

    import pydl

    return 1, {"pydl kernels": lambda: pydl_kernel(pydl.kernels), "pydl NumPy backend": lambda: pydl_kernel(pydl.reference),
               "NumPy student": numpy_student, "PyTorch": torch_sigmoid}


def gemm_workload(m, k, n):
    def data():
        rng = np.random.default_rng(0)
        return rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)

    def pydl_matmul():
        import pydl

        a, b = data()
        out = np.empty((m, n), np.float32)
        return lambda reps: [pydl.kernels.matmul(a, b, out=out) for _ in range(reps)]

    def numpy_matmul():
        a, b = data()
        out = np.empty((m, n), np.float32)
        return lambda reps: [np.matmul(a, b, out=out) for _ in range(reps)]

    def torch_mm():
        import torch

        a, b = (torch.from_numpy(v) for v in data())
        out = torch.empty(m, n)
        return lambda reps: [torch.mm(a, b, out=out) for _ in range(reps)]

    return 1, {"pydl kernels": pydl_matmul, "NumPy": numpy_matmul, "PyTorch": torch_mm}


def conv_workload(shape):
    """conv2d forward + backward (dx, dw, db) at one shape of the convolution issue (scripts/bench_conv.py)."""
    import bench_conv
    from pydl import kernels, reference

    def runner(make_runners):
        def build():
            fwd_bwd = make_runners(*bench_conv.operands(shape))[1]
            return lambda reps: [fwd_bwd() for _ in range(reps)]
        return build

    def torch_runners(*ops):
        import torch

        return bench_conv.torch_runners(torch, *ops)

    return 1, {"pydl kernels": runner(lambda *ops: bench_conv.pydl_runners(kernels, *ops)),
               "pydl NumPy backend": runner(lambda *ops: bench_conv.pydl_runners(reference, *ops)),
               "PyTorch": runner(torch_runners)}


def loader_workload(n):
    """An epoch of CIFAR-10-shaped uint8 images through random crop (padding 4) + flip + per-channel
    normalization in batches of 100: the compiled DataLoader, its NumPy twin, and for scale an epoch of
    a linear classifier (3072-10, float32, the plan) on the same images stored as float32."""
    import pydl
    from pydl import data, nn, optim
    from pydl.reference import data as reference

    def images():
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n)

    def transform():
        return [data.RandomCrop(32, padding=4), data.RandomHorizontalFlip(),
                data.Normalize([125.3, 123.0, 113.9], [63.0, 62.1, 66.7])]

    def epochs(cls):
        def build():
            loader = cls(*images(), batch_size=100, seed=0, transform=transform())

            def run(reps):
                for _ in range(reps):
                    for _ in loader:
                        pass
            return run
        return build

    def linear():
        x, y = images()
        x = x.reshape(n, -1).astype(np.float32) / 255
        net = pydl.Network([nn.Dense(3072, 10)], loss="cross_entropy", optimizer=optim.SGD(lr=0.01), seed=0)
        return lambda reps: net.fit(x, y, epochs=reps, batch_size=100, verbose=0)

    return 1, {"pydl DataLoader": epochs(data.DataLoader), "NumPy twin (pydl.reference.data)": epochs(reference.DataLoader),
               "linear classifier epoch (pydl fit, float32)": linear}


def max_pool_workload(shape):
    """2x2 max pooling of float32 x (stride 2): forward with the arg-max indices, then the backward to dx,
    fresh outputs on every side (torch.nn.functional.max_pool2d(return_indices=True) and its autograd)."""
    def data():
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape).astype(np.float32)
        return x, rng.standard_normal(shape[:2] + (shape[2] // 2, shape[3] // 2)).astype(np.float32)

    def pydl_pool(module):
        x, dy = data()

        def fwd_bwd():  # returns None: a list of 200 kept dx would time page faults
            module.max_pool2d_backward(dy, module.max_pool2d_forward(x, 2)[1], x.shape)

        return lambda reps: [fwd_bwd() for _ in range(reps)]

    def torch_pool():
        import torch

        x, dy = data()
        tx, tdy = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dy)

        def fwd_bwd():
            tx.grad = None
            torch.nn.functional.max_pool2d(tx, 2, return_indices=True)[0].backward(tdy)

        return lambda reps: [fwd_bwd() for _ in range(reps)]

    import pydl

    return 1, {"pydl kernels": lambda: pydl_pool(pydl.kernels), "pydl NumPy backend": lambda: pydl_pool(pydl.reference),
               "PyTorch": torch_pool}


def adam_workload(n, subnormal):
    """One Adam step (lr 1e-3) on n float32 parameters, the size of the CNN's; with ``subnormal`` its state
    is what a long training leaves for weights whose gradients became tiny: v (and g^2) below float32's
    normal range (x86 float arithmetic on those takes a microcode assist per operation)."""
    scale, v0 = (1e-21, 1e-40) if subnormal else (1e-3, 1e-6)

    def data():
        rng = np.random.default_rng(0)
        return (rng.standard_normal(n).astype(np.float32), (rng.standard_normal(n) * scale).astype(np.float32),
                np.full(n, scale, np.float32), np.full(n, v0, np.float32))

    def pydl_adam():
        import pydl

        p, g, m, v = data()
        step = [0]

        def run(reps):
            for _ in range(reps):
                step[0] += 1
                pydl.kernels.adam_step(p, g, m, v, step=step[0])
        return run

    def torch_adam():
        import torch

        p, g, m, v = data()
        tp = torch.nn.Parameter(torch.from_numpy(p))
        tp.grad = torch.from_numpy(g)
        opt = torch.optim.Adam([tp], lr=1e-3)
        opt.step()
        opt.state[tp]["exp_avg"].copy_(torch.from_numpy(m))
        opt.state[tp]["exp_avg_sq"].copy_(torch.from_numpy(v))
        return lambda reps: [opt.step() for _ in range(reps)]

    return 1, {"pydl kernels": pydl_adam, "PyTorch": torch_adam}


def workloads(args):
    mlp_n = 6000 if args.quick else 60000
    w = {name: toy_workload(sizes) for name, sizes in TOY_MODELS.items()}
    for bs in (1, 32, 128, 1000):
        w[f"001 Adam+MSE batch {bs}"] = sweep_workload(bs)
    for bs in (50, 100):
        w[f"MLP 784-256-128-64-10 epoch of {mlp_n}, batch {bs}"] = mlp_workload(bs, mlp_n, args.data)
    cnn_n = 2000 if args.quick else 10000
    w[f"CNN (2 conv, 2 pool, 2 dense) epoch of {cnn_n}, batch 64"] = cnn_workload(cnn_n, args.data)
    import bench_conv

    for shape in bench_conv.SHAPES:
        w[f"conv2d fwd+bwd {bench_conv.label(shape)}"] = conv_workload(shape)
    loader_n = 5000 if args.quick else 50000
    w[f"DataLoader epoch of {loader_n} uint8 3x32x32, crop+flip+normalize, batch 100"] = loader_workload(loader_n)
    w["max_pool2d 2x2 fwd+bwd (64, 16, 28, 28)"] = max_pool_workload((64, 16, 28, 28))
    for subnormal in (False, True):
        w["Adam step of 207k float32 parameters, " + ("subnormal state" if subnormal else "normal state")] = \
            adam_workload(207_000, subnormal)
    w["sigmoid of 10M float32"] = sigmoid_workload(10_000_000)
    for shape in ((100, 784, 256), (100, 256, 128), (784, 100, 256)):
        w["GEMM {}x{} @ {}x{}".format(shape[0], shape[1], shape[1], shape[2])] = gemm_workload(*shape)
    return w


# ---- harness ------------------------------------------------------------------------------------

def _status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return None


def reset_peak_rss():
    """Start a fresh peak-RSS measurement; returns the resident size now (MB). Linux resets VmHWM when 5
    is written to /proc/self/clear_refs; elsewhere the process peak (ru_maxrss) is all there is."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_mb("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb():
    try:
        return _status_mb("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_cell(args, full, build):
    run = build()
    rss_before = reset_peak_rss()
    run(1)  # warm-up: first calls allocate buffers and start threads
    start = time.perf_counter()
    run(1)  # the cost of one epoch (or one call), to size the timed runs
    one = time.perf_counter() - start
    budget = 0.05 if args.quick else 1.0
    count = max(1, int(budget / max(one, 1e-9)))
    if full > 1:
        count = min(full, count)
    if one < budget:
        run(count)  # a second warm-up at the timed size: PyTorch's first steps are far slower than later ones
    samples = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run(count)
        samples.append((time.perf_counter() - start) * full / count)
    return {"samples": samples, "timed": count, "full": full, "rss_mb": peak_rss_mb(), "rss_before_mb": rss_before}


def worker(args):
    """Times the contenders of --jobs (JSON: [[workload, [contender, ...]], ...]) in this process, one JSON
    line each."""
    threads = int(os.environ[THREADS_ENV])
    import pydl

    pydl.set_num_threads(threads)
    jobs = json.loads(args.jobs)
    if any("PyTorch" in names for _, names in jobs):
        import torch

        torch.set_num_threads(threads)
    known = workloads(args)
    lock, done, cell = threading.Lock(), threading.Event(), [""]

    def say(obj):
        with lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    def heartbeat():  # one epoch of a slow contender can take a minute: the parent shows it is alive
        while not done.wait(10):
            say({"alive": cell[0]})

    threading.Thread(target=heartbeat, daemon=True).start()
    for workload, names in jobs:
        full, contenders = known[workload]
        for name in names:
            cell[0] = f"{workload} / {name}"
            say(dict(time_cell(args, full, contenders[name]), workload=workload, contender=name))
    done.set()


def run_jobs(args, jobs, threads):
    """Results keyed (workload, contender) for jobs [(workload, contenders)]. One subprocess per pydl
    contender, so each peak RSS is its own (VmHWM is also reset per cell); the others share one. With
    --quick all pydl contenders share one process and all others another: starting a process per cell,
    each importing torch and loading data, took a third of the run."""
    def split(pred):
        return [(w, [c for c in names if pred(c)]) for w, names in jobs]

    mine, others = split(lambda c: c.startswith("pydl")), split(lambda c: not c.startswith("pydl"))
    if args.quick:
        groups = [mine, others]
    else:
        groups = [[(w, [c])] for w, names in mine for c in names] + [[job] for job in others]
    results = {}
    for group in groups:
        group = [(w, names) for w, names in group if names]
        if not group:
            continue
        cmd = [sys.executable, __file__, "--worker", "--jobs", json.dumps(group), "--repeats", str(args.repeats)]
        cmd += (["--quick"] if args.quick else []) + (["--data", args.data] if args.data else [])
        with tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                    env=dict(os.environ, **{THREADS_ENV: str(threads)}))
            for line in proc.stdout:
                r = json.loads(line)
                if "alive" in r:
                    heartbeat.beat(f"timing {r['alive']}")
                    continue
                results[r["workload"], r["contender"]] = r
                heartbeat.beat(f"timed {r['workload']} / {r['contender']}")
            proc.wait()
            err.seek(0)
            stderr = err.read()
        for w, names in group:
            for c in names:
                if (w, c) not in results:
                    results[w, c] = {"workload": w, "contender": c,
                                     "error": (stderr.strip().splitlines() or ["failed"])[-1]}
    return results


class heartbeat:
    """A progress line on stderr at most every 10 s while cells are timed: a full run takes minutes and
    prints a workload's rows only when all its contenders are done."""
    last = start = time.perf_counter()

    @classmethod
    def beat(cls, what):
        now = time.perf_counter()
        if now - cls.last >= 9:
            cls.last = now
            print(f"  ... {what} ({now - cls.start:.0f} s)", file=sys.stderr, flush=True)


def fmt_seconds(s):
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short timings and a 6000-sample MLP epoch (under a minute)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 5, --quick 3)")
    p.add_argument("--data", metavar="DIR", help="folder with MNIST's train-*-idx*-ubyte.gz files")
    p.add_argument("--json", metavar="PATH", help="write all results here")
    p.add_argument("--threads", type=int, help="threads for pydl and PyTorch (default: pydl's)")
    p.add_argument("--only", metavar="TEXT", help="only workloads whose name contains TEXT")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--jobs", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.worker:
        return worker(args)

    import pydl

    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    threads = args.threads or pydl.get_num_threads()
    info = pydl.build_info()
    load_before = os.getloadavg()
    print(f"pydl {info['version']} ({info['simd']}, {info['gemm']}), {threads} threads; NumPy {np.__version__}; "
          f"PyTorch {'installed' if have_torch else 'not installed'}; load average {load_before[0]:.2f} at start")
    results = []
    lines = ["| workload | contender | median | min-max | x native | timed | peak RSS |", "|---|---|---|---|---|---|---|"]
    jobs = [(name, [c for c in contenders if c != "PyTorch" or have_torch])
            for name, (full, contenders) in workloads(args).items() if not args.only or args.only in name]
    fulls = {name: full for name, (full, _) in workloads(args).items()}
    # With --quick everything runs in two processes at once; otherwise workload by workload, printed as it ends.
    for batch in ([jobs] if args.quick else [[job] for job in jobs]):
        measured = run_jobs(args, batch, threads)
        for name, names in batch:
            reference = None
            for contender in names:
                r = measured[name, contender]
                results.append(r)
                if "error" in r:
                    lines.append(f"| {name} | {contender} | error: {r['error']} | | | | |")
                    print(lines[-1], flush=True)
                    continue
                med = float(np.median(r["samples"]))
                r["median_s"] = med
                reference = reference or med
                r["ratio"] = med / reference
                rss = f"{r['rss_mb']:.0f} MB" if contender.startswith("pydl") else ""
                full = fulls[name]
                timed = f"{r['timed']} of {full} epochs" if full > 1 else f"{r['timed']} runs"
                lines.append(f"| {name} | {contender} | {fmt_seconds(med)} | {fmt_seconds(min(r['samples']))}-"
                             f"{fmt_seconds(max(r['samples']))} | {r['ratio']:.3g} | {timed} | {rss} |")
                print(lines[-1], flush=True)
    load_after = os.getloadavg()
    print()
    print("\n".join(lines))
    print(f"\nLoad average {load_before[0]:.2f} at start, {load_after[0]:.2f} at the end ({os.cpu_count()} CPUs). "
          "Peak RSS: the pydl contender's process during its runs (data and imports included)"
          + ("; with --quick one process runs every pydl contender, its peak reset before each." if args.quick else "."))
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": threads, "build": info, "load_average": [load_before, load_after],
                                               "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
