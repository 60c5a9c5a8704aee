#!/usr/bin/env python
"""Report 001 (Practice #4): loss functions, optimizers, backends and mini-batch sizes, mean of 20 runs.

The model is report 000's Model #3 (2->3->1, sigmoid) on the parabola data (1000 train / 100 test
points, 1000 epochs). Table 1: BCE (SGD, lr 10) vs MSE (SGD, lr 30). Table 2: SGD (10), RMSProp (0.01),
Adam (1.0) with BCE. Table 3: pydl's NumPy reference backend vs its C++ kernels (and PyTorch on the CPU
when it is installed), full-batch gradient descent with BCE. Table 4: mini-batch sizes 1, 32, 128, 1000
with MSE and Adam (0.01), reshuffled every epoch. Tables 1-3 train full batch (one step per epoch on all
1000 points), as the report does. Batch size 1 means 1000 updates per epoch (a few seconds per run here).
With --out: per table, the mean training curves of every column (practice4_tableN_curves.png) and the
mean training time of each column as a bar chart (practice4_tableN_time.png, Tables 2-4).
"""
import numpy as np

import _common
import pydl
from pydl import nn, optim
from pydl.datasets import make_parabola

OPTIMIZERS = {"SGD": optim.SGD, "RMSProp": optim.RMSprop, "Adam": optim.Adam}


def experiment(data, args, seed, *, loss="bce", optimizer="SGD", lr=10.0, batch_size=None, backend=None):
    """One training run; ``batch_size`` None: full batch (one step per epoch on every training point)."""
    x_train, y_train, x_test, y_test = data
    full = batch_size is None or batch_size >= len(x_train)
    net = pydl.Network([nn.Dense(2, 3), nn.Sigmoid(), nn.Dense(3, 1), nn.Sigmoid()], loss=loss,
                       optimizer=OPTIMIZERS[optimizer](lr=lr), backend=backend or args.backend, seed=seed)
    times = {}
    with _common.timer(times, "time_train"):
        history = net.fit(x_train, y_train, epochs=args.epochs, batch_size="full" if full else batch_size,
                          shuffle=not full, verbose=0, seed=seed)
    with _common.timer(times, "time_test"):
        net.predict(x_test)
    train, test = net.evaluate(x_train, y_train), net.evaluate(x_test, y_test)
    return {"acc_train": train["accuracy"], "acc_test": test["accuracy"], "loss_train": train["loss"],
            "loss_test": test["loss"], **times}, _common.history_dict(history)


def torch_experiment(data, args, seed, lr):
    """The same full-batch BCE training in PyTorch (CPU, float32), or None when torch is not installed;
    its curves record each epoch's loss and accuracy before the step, as pydl's History does."""
    torch = _common.import_torch()
    if torch is None:
        return None
    # One thread: the 2-3-1 model is too small to split (pydl's native loop runs it on one thread too), and
    # OpenMP workers waiting for a busy core made each torch step many times slower.
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in data)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1), torch.nn.Sigmoid())
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCELoss()
    times, losses, correct = {}, [], []
    with _common.timer(times, "time_train"):
        for _ in range(args.epochs):
            opt.zero_grad()
            p = model(x_train)
            loss = loss_fn(p, y_train)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            correct.append(((p.detach() > 0.5).float() == y_train).float().mean())
    history = {"loss": [float(v) for v in losses], "accuracy": [float(v) for v in correct]}
    with torch.no_grad():
        with _common.timer(times, "time_test"):
            model(x_test)
        result = {}
        for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
            p = model(x)
            result[f"acc_{split}"] = float(((p > 0.5).float() == y).float().mean())
            result[f"loss_{split}"] = float(loss_fn(p, y))
    return {**result, **times}, history


def run_task(config, seed):
    """One run of one column (a task of pydl.experiments.sweep): the run's data from its seed, then the
    column's training; {} for the PyTorch column when torch is not installed."""
    rng = np.random.default_rng(seed)
    data = make_parabola(1000, seed=rng) + make_parabola(100, seed=rng)
    if config["kind"] == "torch":
        run = torch_experiment(data, config["args"], seed, config["args"].gd_lr)
    else:
        run = experiment(data, config["args"], seed, **config["kwargs"])
    return {} if run is None else {"result": run[0], "history": run[1]}


def build_table(title, corner, means, rows):
    """``means``: column name -> averaged results."""
    table = _common.Table(title, [corner, ""] + list(means))
    for group, label, key, fmt in rows:
        table.add(group, label, *(fmt(m[key]) for m in means.values()))
    return table


ACCURACY = [("Accuracy", "Train", "acc_train", _common.pct), ("Accuracy", "Test", "acc_test", _common.pct)]
FULL = ACCURACY + [("Loss", "Train", "loss_train", "{:.6f}".format), ("Loss", "Test", "loss_test", "{:.6f}".format),
                   ("Elapsed Time", "Train", "time_train", _common.duration),
                   ("Elapsed Time", "Test", "time_test", _common.duration)]


def plot_table(out, t, title, corner, means, histories):
    """The table's columns' mean training curves and, where the table has times, their training times."""
    panels = []
    for key in ("loss", "accuracy"):
        lines = [(col, np.mean([h[key] for h in runs], axis=0), {}) for col, runs in histories.items()]
        what = "loss (each column's own: BCE or MSE)" if key == "loss" and t == 1 else key
        panels.append((f"training {what}\n(mean over the epoch's batches, each before its step)", lines))
    _common.plot_panels(out, f"practice4_table{t}_curves", title, panels)
    if t != 1:
        _common.plot_bars(out, f"practice4_table{t}_time", f"{title}\nmean training time per run",
                          {f"{corner.split(' (')[0]}: {col}" if t == 4 else col: m["time_train"]
                           for col, m in means.items()}, "training time (seconds)")


def main():
    parser = _common.make_parser(__doc__, runs=20, epochs=1000)
    parser.add_argument("--tables", default="1,2,3,4", help="which tables to compute, e.g. 4 or 1,2")
    parser.add_argument("--batch-sizes", default="1,32,128,1000", help="Table 4's mini-batch sizes")
    parser.add_argument("--gd-lr", type=float, default=5.0, help="Table 3's learning rate (practice 3's)")
    args = _common.parse(parser, quick={"runs": 2, "epochs": 20, "batch_sizes": "32,1000"})
    tables = {int(t) for t in args.tables.split(",")}
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    out = _common.Output(args.out)

    configs = {}  # (table, column) -> experiment keyword arguments
    if 1 in tables:
        configs[1, "Binary Crossentropy (10.0)"] = dict(loss="bce", optimizer="SGD", lr=10.0)
        configs[1, "Mean Squared Error (30.0)"] = dict(loss="mse", optimizer="SGD", lr=30.0)
    if 2 in tables:
        for name, lr in (("SGD", 10.0), ("RMSProp", 0.01), ("Adam", 1.0)):
            configs[2, f"{name} ({lr})"] = dict(loss="bce", optimizer=name, lr=lr)
    if 3 in tables:
        configs[3, "pydl NumPy reference"] = dict(loss="bce", optimizer="SGD", lr=args.gd_lr, backend="numpy")
        configs[3, "pydl C++"] = dict(loss="bce", optimizer="SGD", lr=args.gd_lr, backend="cpp")
    if 4 in tables:
        for b in batch_sizes:
            configs[4, str(b)] = dict(loss="mse", optimizer="Adam", lr=0.01, batch_size=b)

    keys = list(configs)
    tasks = [{"name": f"table {t}: {col}", "kind": "pydl", "kwargs": configs[t, col], "args": args} for t, col in keys]
    if 3 in tables:
        tasks.append({"name": "table 3: PyTorch", "kind": "torch", "args": args})
    runs = _common.run_configs(run_task, tasks, args)
    results = {key: [r["result"] for r in runs[i]] for i, key in enumerate(keys)}
    histories = {key: [r["history"] for r in runs[i]] for i, key in enumerate(keys)}
    torch_runs = [r for r in runs[-1] if r] if 3 in tables else []
    torch_results, torch_histories = [r["result"] for r in torch_runs], [r["history"] for r in torch_runs]

    means = {key: _common.mean_of(r) for key, r in results.items()}
    by_table = {t: {col: means[t, col] for (tt, col) in configs if tt == t} for t in sorted(tables)}
    curves = {t: {col: histories[t, col] for (tt, col) in configs if tt == t} for t in sorted(tables)}
    if torch_results:
        by_table[3]["PyTorch (CPU, 1 thread)"] = _common.mean_of(torch_results)
        curves[3]["PyTorch (CPU, 1 thread)"] = torch_histories
    elif 3 in tables:
        print("(PyTorch is not installed: Table 3 has no PyTorch column)\n")
    suffix = f"mean of {args.runs} runs, {args.epochs} epochs"
    titles = {1: ("Loss Function (learning rate)", "Table 1: Comparison between loss functions (SGD, full batch)",
                  ACCURACY),
              2: ("Optimizer (learning rate)", "Table 2: Comparison between optimizers (BCE, full batch)", FULL),
              3: ("Model", f"Table 3: pydl NumPy reference vs C++ kernels vs PyTorch (BCE, full-batch GD, "
                           f"lr {args.gd_lr:g})", FULL),
              4: ("Mini-batch size", "Table 4: Mini-batch sizes (MSE, Adam 0.01, reshuffled every epoch)", FULL)}
    for t, columns in by_table.items():
        corner, title, rows = titles[t]
        table = build_table(f"{title}; {suffix}", corner, columns, rows)
        out.table(f"practice4_table{t}", table)
        plot_table(out, t, f"{title}; {suffix}", corner, columns, curves[t])
    out.json("practice4", {"args": vars(args), "mean": {f"table{t}": cols for t, cols in by_table.items()},
                           "runs": {f"table{t}/{c}": results[t, c] for (t, c) in configs},
                           "history": {f"table{t}/{c}": histories[t, c] for (t, c) in configs}})


if __name__ == "__main__":
    main()
