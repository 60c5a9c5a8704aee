#!/usr/bin/env python
"""Report 004: the Layer/Network design with convolution layers, on the parabola data, then stride.

The 2-D points are images of one row and two columns, NCHW input (N, 1, 1, 2). Each Conv2D kernel
covers its whole input, so it acts like a dense layer: Task #1 one layer (1x2 kernel, 1 channel),
Task #2 two layers (2->1->1), Task #3 2->3->1; sigmoid activations, BCE, full-batch gradient descent with
lr 2.0 for 1000 epochs on 1000 training and 100 test points. Prints each network's layers, learnt
weights, losses, accuracies and timings as the report does, then the comparison table.

Then a small strided convolutional network on 28x28 images (real MNIST when found, see --data,
otherwise generated MNIST-format data) shows stride shrinking the feature maps (Adam lr 0.001, batch 64).

With --out (and matplotlib): the tasks' training curves (conv_practice_tasks_curves.png), their training
times as a bar chart (conv_practice_tasks_time.png), each task's decision boundary from the first run
(conv_boundary_TaskN.png) and the strided network's curves (conv_practice_strided_curves.png).
"""
import tempfile

import numpy as np

import _common
import pydl
from pydl import nn, optim
from pydl.datasets import DatasetNotFoundError, load_mnist, make_parabola, write_fake_mnist

TASKS = {"Task #1": [(1, 1)], "Task #2": [(1, 1), (1, 1)], "Task #3": [(1, 3), (3, 1)]}


def build_task(channels, lr, backend, seed):
    layers = []
    for i, (c_in, c_out) in enumerate(channels):
        # The first kernel spans the input's 1x2 pixels; later ones the 1x1 maps of the previous layer.
        layers += [nn.Conv2D(c_in, c_out, kernel_size=(1, 2) if i == 0 else (1, 1)), nn.Sigmoid()]
    return pydl.Network(layers, loss="bce", optimizer=optim.SGD(lr=lr), backend=backend, seed=seed)


def run_task(name, channels, data, args, seed, verbose):
    x_train, y_train, x_test, y_test = data
    net = build_task(channels, args.lr, args.backend, seed)
    times = {}
    with _common.timer(times, "time_train"):
        # Full batch: one gradient step per epoch on all training points, as the report trains.
        history = net.fit(x_train, y_train, epochs=args.epochs, batch_size="full", shuffle=False, verbose=0)
    with _common.timer(times, "time_test"):
        net.predict(x_test)
    train, test = net.evaluate(x_train, y_train), net.evaluate(x_test, y_test)
    result = {"acc_train": train["accuracy"], "acc_test": test["accuracy"], "loss_train": train["loss"],
              "loss_test": test["loss"], **times}
    if verbose:
        print(f"◆ {name}")
        net.summary(input_shape=x_train.shape[1:])
        print("Result")
        convs = [layer for layer in net.layers if layer.params]
        for i, layer in enumerate(convs):
            # (C_out, C_in*kH*kW): one row per output channel, as the report prints them.
            print(f"w{i} : {np.array2string(layer.params['W'].reshape(layer.out_channels, -1), precision=8)}")
            print(f"b{i} : {np.array2string(layer.params['b'], precision=8)}")
        print(f"train_loss : {result['loss_train']}\ntest_loss : {result['loss_test']}\n"
              f"train_acc : {100 * result['acc_train']:.1f}\ntest_acc : {100 * result['acc_test']:.1f}\n"
              f"time_train : {result['time_train']}\ntime_predict : {result['time_test']}\n")
    return net, result, _common.history_dict(history)


def parabola_tasks(args, out):
    print(f"train_samples : {args.train_size} ({args.train_size}, 1, 1, 2)\n"
          f"test_samples : {args.test_size} ({args.test_size}, 1, 1, 2)\n"
          f"epochs : {args.epochs}\nlearning_rate : {args.lr}\nbackend : {args.backend}\n")
    results = {name: [] for name in TASKS}
    histories = {name: [] for name in TASKS}
    ticker = _common.Ticker("run", args.runs)
    for run in _common.progress(range(args.runs), "runs"):
        seed = args.seed + run
        rng = np.random.default_rng(seed)
        data = []
        for n in (args.train_size, args.test_size):
            x, y = make_parabola(n, seed=rng)
            data += [x.reshape(n, 1, 1, 2), y.reshape(n, 1, 1, 1)]
        for name, channels in TASKS.items():
            net, result, history = run_task(name, channels, data, args, seed, verbose=run == 0)
            results[name].append(result)
            histories[name].append(history)
            if run == 0:
                _common.plot_boundary(
                    out, "conv_boundary_" + name.replace(" #", ""),
                    f"{name} (conv) after {args.epochs} epochs (run 1): training points",
                    lambda pts: net.predict_proba(pts.reshape(-1, 1, 1, 2)).reshape(-1),
                    data[0].reshape(-1, 2), data[1].reshape(-1))
        ticker.done(run)
    means = {name: _common.mean_of(r) for name, r in results.items()}
    what = "Comparison" if args.runs == 1 else f"Comparison (mean of {args.runs} runs)"
    table = _common.Table(what, [""] + list(TASKS))
    for label, key, fmt in (("Accuracy_train", "acc_train", "{:.3f}"), ("Accuracy_test", "acc_test", "{:.3f}"),
                            ("Time_train", "time_train", "{:.3f}"), ("Time_test", "time_test", "{:.5f}")):
        table.add(label, *(fmt.format(means[name][key]) for name in TASKS))
    out.table("conv_practice_tasks", table)
    plot_tasks(out, f"{what}: lr {args.lr:g}, full batch, {args.epochs} epochs", histories, means)
    return {"mean": means, "runs": results, "history": histories}


def plot_tasks(out, title, histories, means):
    panels = []
    for key in ("loss", "accuracy"):
        lines = [(name, np.mean([h[key] for h in runs], axis=0), {}) for name, runs in histories.items()]
        panels.append((f"training {'BCE ' if key == 'loss' else ''}{key} (full batch, before each step)", lines))
    _common.plot_panels(out, "conv_practice_tasks_curves", title, panels)
    _common.plot_bars(out, "conv_practice_tasks_time", f"{title}\nmean training time per run",
                      {name: m["time_train"] for name, m in means.items()}, "training time (seconds)")


def load_images(args, scratch):
    """MNIST-shaped (N, 1, 28, 28) train and test subsets: the real data when found, else generated."""
    folder, source = _common.mnist_folder(args.data), "MNIST"
    with _common.dataset_or_exit():
        try:
            x_train, y_train = load_mnist(folder, "train")
        except DatasetNotFoundError:
            if args.data is not None:
                raise
            folder = write_fake_mnist(scratch, n_train=args.conv_train, n_test=args.conv_test, seed=args.seed)
            source = "generated MNIST-format data (no MNIST found)"
            x_train, y_train = load_mnist(folder, "train")
        x_test, y_test = load_mnist(folder, "test")
    n, m = args.conv_train, args.conv_test
    return source, x_train[:n, None], y_train[:n], x_test[:m, None], y_test[:m]


def strided_demo(args, out):
    with tempfile.TemporaryDirectory() as scratch:
        source, x_train, y_train, x_test, y_test = load_images(args, scratch)
    print(f"Strided convolution on {source}: {len(x_train)} training, {len(x_test)} test images\n")
    net = pydl.Network([nn.Conv2D(1, 8, kernel_size=4, stride=2, init="he_uniform"), nn.ReLU(),   # 28 -> 13
                        nn.Conv2D(8, 16, kernel_size=3, stride=2, init="he_uniform"), nn.ReLU(),  # 13 -> 6
                        nn.Flatten(), nn.Dense(16 * 6 * 6, 10)],
                       loss="cross_entropy", optimizer=optim.Adam(lr=0.001), backend=args.backend, seed=args.seed)
    net.summary(input_shape=x_train.shape[1:])
    times = {}
    with _common.timer(times, "time_train"):
        history = net.fit(x_train, y_train, epochs=args.conv_epochs, batch_size=64, validation_data=(x_test, y_test),
                          verbose=0, seed=args.seed,
                          callbacks=[_common.EpochProgress("strided CNN", args.conv_epochs)])
    table = _common.Table(f"Strided CNN on {source} (Adam 0.001, batch 64; train: running mean over the epoch's "
                          f"batches, each before its step; test: after the epoch)",
                          ["Epoch", "Train loss", "Train acc", "Test loss", "Test acc", "Time"])
    h = history.history
    for e in range(len(h["loss"])):
        table.add(e + 1, f"{h['loss'][e]:.4f}", _common.pct(h["accuracy"][e]), f"{h['val_loss'][e]:.4f}",
                  _common.pct(h["val_accuracy"][e]), _common.duration(h["time"][e]))
    out.table("conv_practice_strided", table)
    _common.plot_curves(out, f"Strided CNN on {source}", "conv_practice_strided_curves", h, val_label="test")
    return {"source": source, "history": _common.history_dict(history), **times}


def main():
    parser = _common.make_parser(__doc__, runs=1, epochs=1000)
    parser.add_argument("--lr", type=float, default=2.0)
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=100)
    parser.add_argument("--data", metavar="DIR", help="MNIST folder for the strided demo")
    parser.add_argument("--conv-train", type=int, default=5000, help="training images of the strided demo")
    parser.add_argument("--conv-test", type=int, default=1000, help="test images of the strided demo")
    parser.add_argument("--conv-epochs", type=int, default=3, help="epochs of the strided demo")
    args = _common.parse(parser, quick={"epochs": 50, "conv_train": 200, "conv_test": 50, "conv_epochs": 1})
    out = _common.Output(args.out)
    tasks = parabola_tasks(args, out)
    strided = strided_demo(args, out)
    out.json("conv_practice", {"args": vars(args), "tasks": tasks, "strided": strided})


if __name__ == "__main__":
    main()
