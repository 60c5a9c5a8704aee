#!/usr/bin/env python
"""Report 002 (DD2424 assignment 1 + bonus): a one-layer linear classifier on CIFAR-10.

s = W x + b (W stored 3072x10, pydl's (in, out) layout), softmax + cross-entropy, cost
J = mean loss + λ‖W‖², mini-batch gradient descent (n_batch 100, η 0.001, 40 epochs, λ 1 as in the
report's tables), W ~ N(0, 0.01²). "Basic": train on data_batch_1, validate on data_batch_2, test on
test_batch, inputs scaled to [0, 1] and standardized with the training set's per-feature mean and std.

Then the gradient check (analytic vs centred-difference gradients on a small subset, in float64), the
bonus improvements, each against Basic: all 5 batches with the last 1000 images for validation; step
decay (η ← 0.95 η per epoch); Xavier initialisation; 400 epochs with η 0.0003; their combination
(400 epochs, η 0.0005, decay 0.99); and sigmoid + multiple binary cross-entropy instead of softmax.
Plots (with matplotlib and --out): loss/accuracy per epoch, the learnt weights as 10 images,
histograms of the correct class's probability for correctly and wrongly classified test images.

--data DIR: the cifar-10-batches-py folder (default: $PYDL_DATA/cifar-10, ~/.pydl/data/cifar-10, ...).
With --quick and no data, small generated batches in the official format are used instead.
"""
import tempfile

import numpy as np

import _common
import pydl
from pydl import init, nn, optim
from pydl.datasets import CIFAR10_CLASSES, DatasetNotFoundError, cifar10_splits, write_fake_cifar10

EXPERIMENTS = ("all", "decay", "xavier", "long", "combined", "multibce")


def settings(args, name):
    """The training settings of an experiment: Basic's, changed as the report's section describes."""
    s = dict(scheme="basic", eta=args.eta, epochs=args.epochs, decay=None, init=init.normal(std=0.01),
             loss="cross_entropy")
    if name == "all":
        s["scheme"] = "all"
    elif name == "decay":
        s["decay"] = 0.95
    elif name == "xavier":
        s["init"] = "xavier_normal"
    elif name == "long":
        s.update(epochs=args.long_epochs, eta=0.0003)
    elif name == "combined":
        s.update(scheme="all", epochs=args.long_epochs, eta=0.0005, decay=0.99, init="xavier_normal")
    elif name == "multibce":
        # Multiple BCE averages over the 10 classes as well, so its gradient is 10x smaller than
        # cross-entropy's: η is scaled to match.
        s.update(loss="multi_bce", eta=args.eta * 10)
    return s


def train(s, splits, args):
    net = pydl.Network([nn.Dense(3072, 10, init=s["init"])], loss=s["loss"], optimizer=optim.SGD(lr=s["eta"]),
                       l2=args.lam, backend=args.backend, seed=args.seed)
    callbacks = [optim.StepDecay(gamma=s["decay"])] if s["decay"] else []
    history = net.fit(splits.x_train, splits.y_train, epochs=s["epochs"], batch_size=args.batch,
                      validation_data=(splits.x_val, splits.y_val), callbacks=callbacks, verbose=0, seed=args.seed)
    result = {}
    for split in ("train", "val", "test"):
        evaluation = net.evaluate(getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}"))
        result[f"{split}_cost"], result[f"{split}_acc"] = evaluation["cost"], evaluation["accuracy"]
    return net, _common.history_dict(history), result


def comparison_table(title, basic, improved):
    table = _common.Table(title, ["", "Basic", "Improvement"])
    for split, label in (("train", "Train"), ("val", "Validation"), ("test", "Test")):
        table.add(f"{label} cost", f"{basic[f'{split}_cost']:.6f}", f"{improved[f'{split}_cost']:.6f}")
        table.add(f"{label} accuracy", f"{basic[f'{split}_acc']:.4f}", f"{improved[f'{split}_acc']:.4f}")
    return table


def gradient_check(splits, args, n_samples=20, n_dims=20):
    """Max relative error between analytic and centred-difference gradients of the loss, in float64, on
    the first ``n_samples`` images and ``n_dims`` input dimensions (the assignment's reduced setting).
    The L2 term's gradient 2λW is added by the optimizer in closed form, so the check leaves it out."""
    x = np.ascontiguousarray(splits.x_train[:n_samples, :n_dims], dtype=np.float64)
    y = splits.y_train[:n_samples]
    table = _common.Table(f"Gradient check ({n_samples} images, {n_dims} dimensions, float64)",
                          ["Loss", "max relative error W", "max relative error b"])
    for loss in ("cross_entropy", "multi_bce"):
        net = pydl.Network([nn.Dense(n_dims, 10, init=init.normal(std=0.01))], loss=loss, dtype="float64",
                           backend=args.backend, seed=args.seed)
        errors = pydl.gradcheck(net, x, y, check_input=False)
        table.add(loss, *(f"{errors[name]:.2e}" for name in sorted(errors, key=lambda k: k[-1] != "W")))
    return table


def plot_weights(out, name, net):
    plt = out.pyplot
    if plt is None:
        return
    w = net.layers[0].params["W"]
    fig, axes = plt.subplots(1, 10, figsize=(15, 2))
    for k, ax in enumerate(axes):
        image = w[:, k].reshape(3, 32, 32).transpose(1, 2, 0)
        ax.imshow((image - image.min()) / (np.ptp(image) or 1))
        ax.set_title(CIFAR10_CLASSES[k], fontsize=9)
        ax.axis("off")
    out.figure(f"cifar10_{name}_weights", fig)


def plot_histogram(out, name, net, splits):
    plt = out.pyplot
    if plt is None:
        return
    prob = net.predict_proba(splits.x_test)
    correct_class = prob[np.arange(len(prob)), splits.y_test]
    right = prob.argmax(axis=1) == splits.y_test
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 21)
    ax.hist(correct_class[right], bins=bins, alpha=0.6, label=f"correctly classified ({right.sum()})")
    ax.hist(correct_class[~right], bins=bins, alpha=0.6, label=f"misclassified ({(~right).sum()})")
    ax.set(xlabel="probability of the correct class", ylabel="test images", title=name)
    ax.legend()
    out.figure(f"cifar10_{name}_histogram", fig)


def load_splits(args, experiments, folder):
    """scheme -> CifarSplits, for the data schemes the chosen experiments need."""
    schemes = {"basic"} | {settings(args, e)["scheme"] for e in experiments}
    return {scheme: cifar10_splits(folder, scheme, args.n_val) for scheme in schemes}


def main():
    parser = _common.make_parser(__doc__, runs=1, epochs=40)
    parser.add_argument("--data", metavar="DIR", help="folder with data_batch_1..5 and test_batch")
    parser.add_argument("--eta", type=float, default=0.001, help="learning rate η")
    parser.add_argument("--lam", type=float, default=1.0, help="L2 coefficient λ in J = loss + λ‖W‖²")
    parser.add_argument("--batch", type=int, default=100, help="mini-batch size n_batch")
    parser.add_argument("--long-epochs", type=int, default=400, help="epochs of the long and combined runs")
    parser.add_argument("--n-val", type=int, default=1000, help="validation images when training on all batches")
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS),
                        help=f"comma-separated subset of {','.join(EXPERIMENTS)} (Basic always runs)")
    args = _common.parse(parser, quick={"epochs": 2, "long_epochs": 3, "n_val": 20})
    if args.runs != 1:
        parser.error("--runs: this script trains each configuration once, as the report does")
    experiments = [e for e in args.experiments.split(",") if e]
    unknown = set(experiments) - set(EXPERIMENTS)
    if unknown:
        parser.error(f"--experiments: unknown {', '.join(sorted(unknown))}")
    out = _common.Output(args.out)

    with tempfile.TemporaryDirectory() as scratch, _common.dataset_or_exit():
        try:
            splits = load_splits(args, experiments, args.data)
        except DatasetNotFoundError:
            if not args.quick:
                raise
            print("(no CIFAR-10 found: --quick uses generated batches in the official format)\n")
            splits = load_splits(args, experiments, write_fake_cifar10(scratch, n_per_batch=60, seed=args.seed))

    basic_splits = splits["basic"]
    print(f"Basic: {len(basic_splits.x_train)} training, {len(basic_splits.x_val)} validation, "
          f"{len(basic_splits.x_test)} test images; λ={args.lam:g}, η={args.eta:g}, n_batch={args.batch}, "
          f"{args.epochs} epochs, backend {args.backend}\n")
    out.table("cifar10_gradcheck", gradient_check(basic_splits, args))

    runs = {}
    for name in _common.progress(["basic"] + experiments, "experiments"):
        s = settings(args, name)
        net, history, result = train(s, splits[s["scheme"]], args)
        runs[name] = {"settings": {k: str(v) for k, v in s.items()}, "result": result, "history": history}
        _common.plot_curves(out, name, f"cifar10_{name}_curves", history)
        plot_weights(out, name, net)
        plot_histogram(out, name, net, splits[s["scheme"]])

    basic = runs["basic"]["result"]
    titles = {"all": "2.1 All training data (49000/1000)", "decay": "2.2 Step decay (0.95)",
              "xavier": "2.3 Xavier initialisation", "long": f"2.4 {args.long_epochs} epochs, η 0.0003",
              "combined": f"2.5 Combination ({args.long_epochs} epochs, η 0.0005, decay 0.99, Xavier, all data)",
              "multibce": "3 Sigmoid + multiple binary cross-entropy"}
    for name in experiments:
        out.table(f"cifar10_{name}", comparison_table(titles[name], basic, runs[name]["result"]))
    if "multibce" in experiments:
        table = _common.Table("3.2 Final accuracies", ["", "Train accuracy", "Validation accuracy", "Test accuracy"])
        for label, name in (("Cross-entropy", "basic"), ("Multiple Binary", "multibce")):
            r = runs[name]["result"]
            table.add(label, f"{r['train_acc']:.4f}", f"{r['val_acc']:.4f}", f"{r['test_acc']:.4f}")
        out.table("cifar10_accuracies", table)
    out.json("cifar10_linear", {"args": vars(args), "runs": runs})


if __name__ == "__main__":
    main()
