#!/usr/bin/env python
"""Report 002 (DD2424 assignment 1 + bonus): a one-layer linear classifier on CIFAR-10.

s = W x + b (W stored 3072x10, pydl's (in, out) layout), softmax + cross-entropy, cost
J = mean loss + λ‖W‖², mini-batch gradient descent. "Basic": train on data_batch_1, validate on
data_batch_2, test on test_batch, inputs scaled to [0, 1] and standardized with the training set's
per-feature mean and std; W ~ N(0, 0.01²), b = 0. Then the gradient check (analytic vs centred-difference
gradients on a small subset, in float64) and the report's sections, each compared with Basic (the
settings of every section are listed below and printed before training).

Multiple binary cross-entropy (section 3): the report trains with the gradient p - y, summed over the
K = 10 classes (its text: "we do not need to change the code"), i.e. it minimises K·l + λ‖W‖² where l is
the assignment's loss averaged over the classes. pydl's multi_bce averages over the classes, so its
gradient is (p - y)/K: the run uses lr = K·η and l2 = λ/K, which makes both the data step η(p - y)x and
the weight-decay step 2ηλW exactly the report's (scaling η alone would make weight decay K times stronger).

What the numbers measure: "cost" is J = loss + λ‖W‖² (λ the report's, 1), "loss" the data loss without
the L2 term. Tables and the solid curves are measured after each epoch (and after training) on the whole
training, validation and test sets, like the report's; the dashed "running" curves are pydl's History
values, the mean over the epoch's batches, each taken before its update. --runs R trains every section R
times (run i: seed + i for initialisation and shuffling) and reports the mean (± std); weight images and
histograms show run 1. Progress (start, a line at least every 10 s, time) goes to stdout.
Plots (with matplotlib and --out): per section the curves, the learnt weights as 10 images, and
histograms of the correct class's probability for correctly and wrongly classified test images.

Data stay uint8 (150 MB for all 50000 training images instead of 600 MB in float32): a pydl.data.DataLoader
standardizes each batch with the training set's per-feature mean and std as it is formed. The bonus
section trains on all data with every batch randomly flipped and translated (pydl.data transforms).

--data DIR: the cifar-10-batches-py folder (default: $PYDL_DATA/cifar-10, ~/.pydl/data/cifar-10, ...).
With --quick and no data, small generated batches in the official format are used instead; --quick
section titles say so and list the reduced settings.
"""
import tempfile
import textwrap
import time

import numpy as np

import _common
import pydl
from pydl import init, nn, optim
from pydl.callbacks import Callback
from pydl.data import DataLoader, Normalize, RandomCrop, RandomHorizontalFlip
from pydl.datasets import CIFAR10_CLASSES, DatasetNotFoundError, cifar10_schemes, write_fake_cifar10

K = len(CIFAR10_CLASSES)
SECTIONS = ("basic", "all", "decay", "xavier", "long", "combined", "multibce", "augment")
EXPERIMENTS = SECTIONS[1:]
TITLES = {"basic": "Basic", "all": "2.1 All training data", "decay": "2.2 Step decay",
          "xavier": "2.3 Xavier initialisation", "long": "2.4 More epochs, smaller η",
          "combined": "2.5 Combination", "multibce": "3 Sigmoid + multiple binary cross-entropy",
          "augment": "Bonus: data augmentation (flip + translation)"}
AUGMENT = "random horizontal flip + translation by up to 3 pixels (zero padding)"
INITS = {"N(0, 0.01²)": lambda: init.normal(std=0.01), "Xavier (Glorot normal)": lambda: "xavier_normal"}
LOSSES = {"cross_entropy": "softmax + cross-entropy", "multi_bce": "sigmoid + multiple BCE"}


def settings(args, name):
    """Every setting of a report section: Basic's (from ``args``), changed as the report's section says.
    ``eta``/``lam`` are the report's η and λ; ``lr``/``l2`` what pydl is given (they differ for multi_bce)."""
    s = dict(data="basic", init="N(0, 0.01²)", loss="cross_entropy", eta=args.eta, decay=None, lam=args.lam,
             batch=args.batch, epochs=args.epochs, augment=False)
    if name == "all":
        s["data"] = "all"
    elif name == "decay":
        s["decay"] = 0.95
    elif name == "xavier":
        s.update(init="Xavier (Glorot normal)", decay=0.95)  # 2.3's text: "the decay rate is set to 0.95"
    elif name == "long":
        s.update(epochs=args.long_epochs, eta=0.0003)
    elif name == "combined":
        s.update(data="all", init="Xavier (Glorot normal)", epochs=args.long_epochs, eta=0.0005, decay=0.99)
    elif name == "multibce":
        s["loss"] = "multi_bce"
    elif name == "augment":  # DD2424's bonus: all training data, each batch randomly flipped and translated
        s.update(data="all", augment=True)
    scale = K if s["loss"] == "multi_bce" else 1  # see the module docstring
    s["lr"], s["l2"] = s["eta"] * scale, s["lam"] / scale
    return s


def data_text(scheme, args, sizes=None):
    if sizes:
        return "train {} / val {} / test {}".format(*sizes)
    if scheme == "basic":
        return "train data_batch_1 (10000) / val data_batch_2 (10000) / test test_batch (10000)"
    return (f"train data_batch_1-5 minus the last {args.n_val} ({50000 - args.n_val}) / val those {args.n_val} / "
            f"test test_batch (10000)")


def describe(s, args, sizes=None):
    """One line with every setting of ``s``."""
    eta = f"η {s['eta']:g}" + (f" × {s['decay']:g} per epoch" if s["decay"] else " constant")
    text = (f"{data_text(s['data'], args, sizes)}; init {s['init']}, b = 0; {LOSSES[s['loss']]}; {eta}; "
            f"λ {s['lam']:g}; n_batch {s['batch']}; {s['epochs']} epochs")
    if s["augment"]:
        text += f"; {AUGMENT}"
    if s["lr"] != s["eta"] or s["l2"] != s["lam"]:
        text += f"; pydl lr {s['lr']:g} = {K}η, l2 {s['l2']:g} = λ/{K} (multi_bce averages over the {K} classes)"
    return text


def changes(s, basic, sizes):
    """What a section changes from Basic, in a few words."""
    words = []
    if s["data"] != basic["data"]:
        words.append("train/val {} / {}".format(*sizes[s["data"]][:2]))
    if s["init"] != basic["init"]:
        words.append(f"init {s['init']}")
    if s["loss"] != basic["loss"]:
        words.append(f"{LOSSES[s['loss']]}: pydl lr {s['lr']:g} = {K}η, l2 {s['l2']:g} = λ/{K}")
    if s["eta"] != basic["eta"] or s["decay"] != basic["decay"]:
        words.append(f"η {s['eta']:g}" + (f" × {s['decay']:g} per epoch" if s["decay"] else ""))
    for key, label in (("lam", "λ"), ("batch", "n_batch")):
        if s[key] != basic[key]:
            words.append(f"{label} {s[key]:g}")
    if s["epochs"] != basic["epochs"]:
        words.append(f"{s['epochs']} epochs")
    if s["augment"]:
        words.append(AUGMENT)
    return ", ".join(words)


def settings_table(args, report, sizes, source):
    """Every section's settings as run; a value that differs from the report's says so."""
    table = _common.Table(f"Settings per section ({source})",
                          ["Section", "Train / val / test", "Init", "Loss", "η", "Decay per epoch", "λ",
                           "n_batch", "Epochs", "pydl lr, l2", "Augmentation"])
    for name in SECTIONS:
        s, r = settings(args, name), settings(report, name)

        def cell(key, fmt=str):
            value = fmt(s[key]) if s[key] is not None else "none"
            ref = fmt(r[key]) if r[key] is not None else "none"
            return value if value == ref else f"{value} (report {ref})"

        table.add(TITLES[name], "{} / {} / {}".format(*sizes[s["data"]]), cell("init"), LOSSES[s["loss"]],
                  cell("eta", "{:g}".format), cell("decay", "{:g}".format), cell("lam", "{:g}".format),
                  cell("batch"), cell("epochs"), f"{s['lr']:g}, {s['l2']:g}",
                  "flip + translation ±3 px" if s["augment"] else "none")
    return table


def help_epilog(report):
    lines = ["settings per section (report 002's; the defaults):"]
    for name in SECTIONS:
        lines += textwrap.wrap(f"{TITLES[name]}: {describe(settings(report, name), report)}", 100,
                               initial_indent="  ", subsequent_indent="      ")
    return "\n".join(lines)


class AfterEpoch(Callback):
    """Measures cost J = loss + λ‖W‖², loss and accuracy on whole sets after every epoch (the report's
    curves), with the report's λ; puts them into ``logs`` as "<set>_cost" etc. for later callbacks."""

    def __init__(self, sets, lam):
        self.sets, self.lam = sets, lam
        self.record = {}

    def on_train_begin(self, network):
        self.net = network

    def on_epoch_end(self, epoch, logs):
        for key, value in measure(self.net, self.sets, self.lam).items():
            self.record.setdefault(key, []).append(value)
            logs["after_" + key] = value


def loader(splits, x, y, batch=2000, seed=0, shuffle=False, augment=False):
    """Batches of uint8 images standardized with the training set's per-feature statistics on the fly (the
    data never exist as floats in whole), flipped and translated with ``augment``."""
    transform = [RandomCrop(32, padding=3), RandomHorizontalFlip()] if augment else []
    return DataLoader(x, y, batch_size=batch, shuffle=shuffle, seed=seed, image_shape=(3, 32, 32),
                      transform=transform + [Normalize(splits.mean, splits.std)])


def measure(net, sets, lam):
    """{"<set>_cost", "<set>_loss", "<set>_acc"} on each whole set (name -> DataLoader)."""
    w = net.layers[0].params["W"]
    penalty = lam * float(np.sum(np.square(w, dtype=np.float64)))
    result = {}
    for name, batches in sets.items():
        e = net.evaluate(batches)
        result.update({f"{name}_loss": e["loss"], f"{name}_cost": e["loss"] + penalty, f"{name}_acc": e["accuracy"]})
    return result


def build(s, args, seed, n_in=3072, dtype=None):
    return pydl.Network([nn.Dense(n_in, K, init=INITS[s["init"]]())], loss=s["loss"],
                        optimizer=optim.SGD(lr=s["lr"]), l2=s["l2"], dtype=dtype, backend=args.backend, seed=seed)


def train(name, s, splits, args, seed):
    """One run of a section: the trained network, its curves and its final measurements."""
    net = build(s, args, seed)
    sets = {name: loader(splits, getattr(splits, "x_" + name), getattr(splits, "y_" + name))
            for name in ("train", "val", "test")}
    after = AfterEpoch({"train": sets["train"], "val": sets["val"]}, s["lam"])
    callbacks = [after, _common.EpochProgress(f"{name} (seed {seed})", s["epochs"],
                                              keys=("after_train_cost", "after_val_acc"))]
    if s["decay"]:
        callbacks.append(optim.StepDecay(gamma=s["decay"]))
    start = time.perf_counter()
    batches = loader(splits, splits.x_train, splits.y_train, s["batch"], seed, shuffle=True, augment=s["augment"])
    history = net.fit(batches, epochs=s["epochs"], callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - start
    result = measure(net, sets, s["lam"])
    result["time"] = seconds
    curves = dict(after.record, running_loss=list(history["loss"]), running_acc=list(history["accuracy"]),
                  lr=list(history["lr"]), train_seconds=list(history["time"]))
    return net, curves, result


ROWS = [(f"{label} {what}", f"{split}_{key}", fmt) for split, label in
        (("train", "Train"), ("val", "Validation"), ("test", "Test"))
        for what, key, fmt in (("cost", "cost", "{:.6f}"), ("accuracy", "acc", "{:.4f}"))] + \
       [("Training time", "time", None)]


def cell(results, key, fmt):
    return _common.mean_std([r[key] for r in results], fmt)


def comparison_table(title, basic, improved):
    table = _common.Table(title, ["", "Basic", "Improvement"])
    for label, key, fmt in ROWS:
        table.add(label, cell(basic, key, fmt), cell(improved, key, fmt))
    return table


def gradient_check(splits, args, n_samples=20, n_dims=20):
    """Max relative error between analytic and centred-difference gradients of the loss, in float64, on
    the first ``n_samples`` images and ``n_dims`` input dimensions (the assignment's reduced setting).
    The L2 term's gradient 2λW is added by the optimizer in closed form, so the check leaves it out."""
    x = (splits.x_train[:n_samples, :n_dims] - splits.mean[:n_dims]) / splits.std[:n_dims]  # float64
    y = splits.y_train[:n_samples]
    table = _common.Table(f"Gradient check ({n_samples} images, {n_dims} dimensions, float64)",
                          ["Loss", "max relative error W", "max relative error b"])
    for loss in ("cross_entropy", "multi_bce"):
        net = pydl.Network([nn.Dense(n_dims, K, init=init.normal(std=0.01))], loss=loss, dtype="float64",
                           backend=args.backend, seed=args.seed)
        errors = pydl.gradcheck(net, x, y, check_input=False)
        table.add(loss, *(f"{errors[name]:.2e}" for name in sorted(errors, key=lambda k: k[-1] != "W")))
    return table


def plot_curves(out, name, title, curves, runs):
    """Cost, loss and accuracy per epoch: after the epoch on whole sets (solid) and History's running
    training values (dashed), each the mean over the runs."""
    def mean(key):
        return np.mean([c[key] for c in curves], axis=0)

    after = "after each epoch, whole set"
    running = "train, running mean over the epoch's batches (before each update)"
    over = f"; mean of {runs} runs" if runs > 1 else ""
    _common.plot_panels(out, f"cifar10_{name}_curves", f"{title}{over}", [
        ("cost J = loss + λ‖W‖²", [(f"train ({after})", mean("train_cost"), {}),
                                   (f"validation ({after})", mean("val_cost"), {})]),
        ("loss (no L2 term)", [(f"train ({after})", mean("train_loss"), {}),
                               (f"validation ({after})", mean("val_loss"), {}),
                               (running, mean("running_loss"), dict(linestyle="--"))]),
        ("accuracy", [(f"train ({after})", mean("train_acc"), {}),
                      (f"validation ({after})", mean("val_acc"), {}),
                      (running, mean("running_acc"), dict(linestyle="--"))])])


def plot_weights(out, name, title, net):
    plt = out.pyplot
    if plt is None:
        return
    w = net.layers[0].params["W"]
    fig, axes = plt.subplots(1, K, figsize=(15, 2.2))
    for k, ax in enumerate(axes):
        image = w[:, k].reshape(3, 32, 32).transpose(1, 2, 0)
        ax.imshow((image - image.min()) / (np.ptp(image) or 1))
        ax.set_title(CIFAR10_CLASSES[k], fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{title}: learnt weights (run 1), each class's column scaled to [0, 1]")
    out.figure(f"cifar10_{name}_weights", fig)


def plot_histogram(out, name, title, net, splits):
    plt = out.pyplot
    if plt is None:
        return
    prob = np.concatenate([net.predict_proba(xb) for xb in loader(splits, splits.x_test, None)])
    correct_class = prob[np.arange(len(prob)), splits.y_test]
    right = prob.argmax(axis=1) == splits.y_test
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 21)
    ax.hist(correct_class[right], bins=bins, alpha=0.6, label=f"correctly classified ({right.sum()})")
    ax.hist(correct_class[~right], bins=bins, alpha=0.6, label=f"misclassified ({(~right).sum()})")
    link = "sigmoid of its score" if net.loss.name == "multi_bce" else "softmax"
    ax.set(xlabel=f"probability of the correct class ({link})", ylabel="test images", title=f"{title} (run 1)")
    ax.legend()
    out.figure(f"cifar10_{name}_histogram", fig)


def load_splits(args, experiments, folder):
    """scheme -> CifarSplits, for the data schemes the chosen experiments need: each file read once, the
    schemes' sets views of one uint8 training array and one test array."""
    schemes = ["basic"] + [settings(args, e)["data"] for e in experiments]
    return cifar10_schemes(folder, schemes, args.n_val, dtype="uint8")


def main():
    parser = _common.make_parser(__doc__, runs=1, epochs=40)
    parser.add_argument("--data", metavar="DIR", help="folder with data_batch_1..5 and test_batch")
    parser.add_argument("--eta", type=float, default=0.001, help="Basic's learning rate η")
    parser.add_argument("--lam", type=float, default=1.0, help="L2 coefficient λ in J = loss + λ‖W‖²")
    parser.add_argument("--batch", type=int, default=100, help="mini-batch size n_batch")
    parser.add_argument("--long-epochs", type=int, default=400, help="epochs of the 2.4 and 2.5 runs")
    parser.add_argument("--n-val", type=int, default=1000, help="validation images when training on all batches")
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS),
                        help=f"comma-separated subset of {','.join(EXPERIMENTS)} (Basic always runs)")
    for action in parser._actions:
        if action.dest == "epochs":
            action.help = "epochs of Basic and of every section but 2.4 and 2.5"
    report = parser.parse_args([])
    parser.epilog = help_epilog(report)
    args = _common.parse(parser, quick={"epochs": 2, "long_epochs": 3, "n_val": 20})
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    experiments = [e for e in args.experiments.split(",") if e]
    unknown = set(experiments) - set(EXPERIMENTS)
    if unknown:
        parser.error(f"--experiments: unknown {', '.join(sorted(unknown))}")
    out = _common.Output(args.out)

    source = "CIFAR-10"
    _common.say(f"Loading CIFAR-10 ({args.data or 'default locations'}) and standardizing it...")
    with tempfile.TemporaryDirectory() as scratch, _common.dataset_or_exit():
        try:
            splits = load_splits(args, experiments, args.data)
        except DatasetNotFoundError:
            if not args.quick:
                raise
            _common.say("(no CIFAR-10 found: --quick uses generated batches in the official format)\n")
            source = "generated CIFAR-format batches, 60 images each"
            splits = load_splits(args, experiments, write_fake_cifar10(scratch, n_per_batch=60, seed=args.seed))
    if args.quick:
        source = f"--quick: reduced epochs on {source}"
    sizes = {k: (len(v.x_train), len(v.x_val), len(v.x_test)) for k, v in splits.items()}
    sizes.setdefault("all", ("?", "?", "?"))

    _common.say(f"Backend {args.backend}, {args.runs} run(s) per section (seeds {args.seed}.."
                f"{args.seed + args.runs - 1}); cost J = loss + λ‖W‖², measured after each epoch on whole sets\n")
    out.table("cifar10_settings", settings_table(args, report, sizes, source))
    out.table("cifar10_gradcheck", gradient_check(splits["basic"], args))

    runs, results, titles = {}, {}, {}
    start = time.perf_counter()
    for name in ["basic"] + experiments:
        s = settings(args, name)
        data = splits[s["data"]]
        titles[name] = f"{TITLES[name]} ({changes(s, settings(args, 'basic'), sizes)})"
        if args.quick:
            r = settings(report, name)
            titles[name] += (f" [--quick: {s['epochs']} epochs (report {r['epochs']}), {sizes[s['data']][0]} "
                             f"training images of {'CIFAR-10' if source.endswith('CIFAR-10') else 'generated data'}]")
        _common.say(f"▸ {TITLES[name]}: {describe(s, args, sizes[s['data']])}")
        t0 = time.perf_counter()
        curves, results[name] = [], []
        for run in range(args.runs):
            net, run_curves, result = train(name, s, data, args, args.seed + run)
            curves.append(run_curves)
            results[name].append(result)
            if run == 0:
                plot_weights(out, name, TITLES[name], net)
                plot_histogram(out, name, TITLES[name], net, data)
        plot_curves(out, name, titles[name], curves, args.runs)
        mean = _common.mean_of(results[name])
        _common.say(f"  {TITLES[name]} done in {_common.duration(time.perf_counter() - t0)}: test accuracy "
                    f"{mean['test_acc']:.4f}, test cost {mean['test_cost']:.4f} (total "
                    f"{_common.duration(time.perf_counter() - start)})\n")
        runs[name] = {"settings": s, "results": results[name], "mean": mean, "curves": curves}

    what = (f"cost J = loss + λ‖W‖² and accuracy on each whole set after training"
            + (f"; mean ± std of {args.runs} runs" if args.runs > 1 else ""))
    for name in experiments:
        title = f"{titles[name]} vs Basic; {what}"
        if name == "multibce":
            title += f"; its loss is the BCE averaged over the {K} classes"
        out.table(f"cifar10_{name}", comparison_table(title, results["basic"], results[name]))
    if "multibce" in experiments:
        table = _common.Table(f"3.2 Final accuracies after training ({source if args.quick else 'CIFAR-10'})",
                              ["", "Train accuracy", "Validation accuracy", "Test accuracy"])
        for label, name in (("Cross-entropy", "basic"), ("Multiple Binary", "multibce")):
            table.add(label, *(cell(results[name], f"{split}_acc", "{:.4f}") for split in ("train", "val", "test")))
        out.table("cifar10_accuracies", table)
    out.json("cifar10_linear", {"args": vars(args), "source": source, "runs": runs})
    _common.say(f"All sections done in {_common.duration(time.perf_counter() - start)}")


if __name__ == "__main__":
    main()
