#!/usr/bin/env python
"""Report 000 (Practice #3): three small sigmoid networks on the parabola data, mean of 10 runs.

Model #1: 2->1, Model #2: 2->1->1, Model #3: 2->3->1, all sigmoid with binary cross-entropy, trained by
full-batch gradient descent (lr 5.0, 1000 epochs) on 1000 points and tested on 100; every run draws new
data shared by the three models. ``--variant 004`` uses report 004's settings (lr 2.0) and also prints
each model's layers and learnt weights as 004 does.
"""
import numpy as np

import _common
import pydl
from pydl import nn, optim
from pydl.datasets import make_parabola
from pydl.serialization import from_arrays, to_arrays

ARCHITECTURES = {"Model #1": [2, 1], "Model #2": [2, 1, 1], "Model #3": [2, 3, 1]}


def build(sizes, lr, backend, seed):
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [nn.Dense(n_in, n_out), nn.Sigmoid()]
    return pydl.Network(layers, loss="bce", optimizer=optim.SGD(lr=lr), backend=backend, seed=seed)


def run_once(sizes, data, args, seed):
    x_train, y_train, x_test, y_test = data
    net = build(sizes, args.lr, args.backend, seed)
    times = {}
    with _common.timer(times, "time_train"):
        # Full batch: every epoch is one gradient step on all training points, as the report trains.
        history = net.fit(x_train, y_train, epochs=args.epochs, batch_size="full", shuffle=False, verbose=0)
    with _common.timer(times, "time_test"):
        net.predict(x_test)
    train, test = net.evaluate(x_train, y_train), net.evaluate(x_test, y_test)
    result = {"acc_train": train["accuracy"], "acc_test": test["accuracy"], "loss_train": train["loss"],
              "loss_test": test["loss"], **times}
    return net, history, result


def run_data(args, seed):
    """A run's training and test points (every model of a run sees the same)."""
    rng = np.random.default_rng(seed)
    return make_parabola(args.train_size, seed=rng) + make_parabola(args.test_size, seed=rng)


def run_task(config, seed):
    """One run of one model (a task of pydl.experiments.sweep); run 1 also returns its network's arrays."""
    args = config["args"]
    net, history, result = run_once(ARCHITECTURES[config["name"]], run_data(args, seed), args, seed)
    out = {"result": result, "history": _common.history_dict(history)}
    if seed == args.seed:
        out["network"] = to_arrays(net)
    return out


def print_network(name, net, result):
    """Report 004's per-task printout: layers, weights, losses, accuracies (%) and timings."""
    print(f"{name}")
    net.summary()
    dense = [layer for layer in net.layers if layer.params]
    for i, layer in enumerate(dense):
        # Transposed to (out, in): one row per unit, the layout 004 prints.
        print(f"w{i} : {np.array2string(layer.params['W'].T, precision=8)}")
        print(f"b{i} : {np.array2string(layer.params['b'], precision=8)}")
    for key in ("loss_train", "loss_test"):
        print(f"{key.replace('loss_', '')}_loss : {result[key]:.6f}")
    for key in ("acc_train", "acc_test"):
        print(f"{key.replace('acc_', '')}_acc : {100 * result[key]:.1f}")
    print(f"time_train : {result['time_train']:.6f}\ntime_predict : {result['time_test']:.6f}\n")


def plot_boundary(out, name, net, data, args):
    _common.plot_boundary(out, "boundary_" + name.replace(" #", ""),
                          f"{name} after {args.epochs} epochs (run 1): training points",
                          lambda pts: net.predict_proba(pts), data[0], data[1])


def plot_mean_curves(out, histories, args):
    """Mean training loss and accuracy per epoch over the runs, one line per model."""
    panels = []
    for key, what in (("loss", "BCE loss"), ("accuracy", "accuracy")):
        lines = [(name, np.mean([h[key] for h in runs], axis=0), {}) for name, runs in histories.items()]
        panels.append((f"training {what} (full batch, before each step)", lines))
    _common.plot_panels(out, f"practice3_{args.variant}_curves",
                        f"Mean of {args.runs} runs, lr {args.lr:g}, full-batch gradient descent", panels)


def main():
    parser = _common.make_parser(__doc__, runs=10, epochs=1000)
    parser.add_argument("--variant", choices=("000", "004"), default="000",
                        help="000: lr 5.0; 004: lr 2.0 and print layers and weights")
    parser.add_argument("--lr", type=float, help="learning rate (default: 5.0, or 2.0 with --variant 004)")
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=100)
    args = _common.parse(parser, quick={"runs": 2, "epochs": 50})
    if args.lr is None:
        args.lr = 2.0 if args.variant == "004" else 5.0
    out = _common.Output(args.out)

    print(f"Running {args.runs} tests on {len(ARCHITECTURES)} models, with:\n# of train data: {args.train_size}\n"
          f"# of test data: {args.test_size}\nLearning rate: {args.lr:f}\n# of epochs: {args.epochs}\n"
          f"Backend: {args.backend}\n")
    names = list(ARCHITECTURES)
    runs = _common.run_configs(run_task, [{"name": name, "args": args} for name in names], args)
    results = {name: [r["result"] for r in runs[i]] for i, name in enumerate(names)}
    histories = {name: [r["history"] for r in runs[i]] for i, name in enumerate(names)}
    for i, name in enumerate(names):
        first = next((r for r in runs[i] if "network" in r), None)
        if first is not None:  # run 1's network, for the printout and the boundary plot
            net = from_arrays(first["network"])
            if args.variant == "004":
                print_network(name, net, first["result"])
            plot_boundary(out, name, net, run_data(args, args.seed), args)

    means = {name: _common.mean_of(r) for name, r in results.items()}
    table = _common.Table(f"Mean of {args.runs} runs (lr {args.lr:g}, {args.epochs} epochs, "
                          f"{args.train_size}/{args.test_size} samples, backend {args.backend})",
                          ["", ""] + list(ARCHITECTURES))
    rows = [("Accuracy", "Train Set", "acc_train", _common.pct), ("Accuracy", "Test Set", "acc_test", _common.pct),
            ("Loss", "Train Set", "loss_train", "{:.2f}".format), ("Loss", "Test Set", "loss_test", "{:.2f}".format),
            ("Elapsed Time", "Training", "time_train", _common.duration),
            ("Elapsed Time", "Inference", "time_test", _common.duration)]
    for group, label, key, fmt in rows:
        table.add(group, label, *(fmt(means[name][key]) for name in ARCHITECTURES))
    out.table(f"practice3_{args.variant}", table)
    plot_mean_curves(out, histories, args)
    out.json(f"practice3_{args.variant}", {"args": vars(args), "mean": means, "runs": results,
                                          "history": histories})


if __name__ == "__main__":
    main()
