#!/usr/bin/env python
"""Report 003 (Deep learning lab 01): a 784-256-128-64-10 ReLU MLP on MNIST (or Fashion-MNIST).

Task 1: plain mini-batch SGD (lr 0.01, batch 25, 50 epochs: the report's best). Task 2: Adam (lr 0.001,
batch 100), and the same in PyTorch when it is installed. Softmax cross-entropy. As in the report the
"validation" set is the 10000-image test split; nothing is tuned on a held-out part of the training set.
Prints one line per epoch and the report's hyper-parameter table.

The pydl and PyTorch runs measure the same things: the same initial weights (pydl's He-uniform draw,
copied into torch), the same batch size, reshuffled every epoch (each library its own order), the same
epochs. "Train" loss and accuracy are the running mean over the epoch's batches, each
taken in training mode before its update (pydl's History, a typical PyTorch loop); "Val" is measured after
the epoch on the whole test split; "Time" is the epoch's training plus that validation. Threads: pydl's
native loop times its steps and runs each on one thread or all (pydl.set_num_threads), whichever is faster
lately; PyTorch runs on --torch-threads (default 1: on a machine whose cores are busy with other work its
OpenMP threads wait for each other, and an epoch took 6x longer on two threads than on one).

Data: --data DIR, else ../shared/data/mnist next to the repository when present, else $PYDL_DATA/mnist
and ~/.pydl/data/mnist (Fashion-MNIST: $PYDL_DATA/fashion-mnist, ~/.pydl/data/fashion-mnist,
/usr/share/datasets/fashion-mnist).
"""
import functools
import time

import _common
import pydl
from pydl import nn, optim
from pydl.callbacks import Callback
from pydl.datasets import load_fashion_mnist, load_mnist

SIZES = (784, 256, 128, 64, 10)
TASKS = {"1": dict(name="Task1", optimizer="SGD", lr=0.01, batch_size=25),
         "2": dict(name="Task2", optimizer="Adam", lr=0.001, batch_size=100)}


def build(optimizer, lr, backend, seed):
    layers = []
    for n_in, n_out in zip(SIZES[:-2], SIZES[1:-1]):
        layers += [nn.Dense(n_in, n_out, init="he_uniform"), nn.ReLU()]
    layers.append(nn.Dense(SIZES[-2], SIZES[-1]))  # logits: the loss applies the softmax
    opt = optim.SGD(lr=lr) if optimizer == "SGD" else optim.Adam(lr=lr)
    return pydl.Network(layers, loss="cross_entropy", optimizer=opt, backend=backend, seed=seed)


class EpochLine(Callback):
    """The report's per-epoch line, with the epoch's time (training and validation)."""

    def __init__(self, task):
        self.task = task

    def on_epoch_end(self, epoch, logs):
        print(f"| {self.task} | Epoch: {epoch + 1} | Train Loss: {logs['loss']:.4f} | "
              f"Train Acc: {100 * logs['accuracy']:.4f} | Val Loss: {logs['val_loss']:.4f} | "
              f"Val Acc: {100 * logs['val_accuracy']:.4f} | Time: {_common.duration(logs['time'])} |", flush=True)


def run_pydl(task, data, args, seed):
    x_train, y_train, x_val, y_val = data
    net = build(task["optimizer"], task["lr"], args.backend, seed)
    if task["name"] == TASKS["1"]["name"] and seed == args.seed:
        net.summary()
    history = net.fit(x_train, y_train, epochs=args.epochs, batch_size=task["batch_size"],
                      validation_data=(x_val, y_val), verbose=0, callbacks=[EpochLine(task["name"])],
                      seed=seed)
    return _common.history_dict(history)


def torch_model(torch, net):
    """A torch.nn.Sequential with ``net``'s architecture (Dense-ReLU-...-Dense) and its current weights."""
    linears = []
    for layer in net.layers:
        if isinstance(layer, nn.Dense):
            linear = torch.nn.Linear(layer.in_features, layer.out_features)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.params["W"].T.copy()))  # pydl stores (in, out)
                linear.bias.copy_(torch.from_numpy(layer.params["b"]))
            linears.append(linear)
    layers = [m for linear in linears[:-1] for m in (linear, torch.nn.ReLU())]
    return torch.nn.Sequential(*layers, linears[-1])


def run_torch(task, data, args, seed):
    """Task 2 in PyTorch (CPU): same architecture, initial weights, optimizer, batch size, epochs and
    measurements as the pydl run (see the module docstring); None without torch."""
    torch = _common.import_torch()
    if torch is None:
        return None
    torch.set_num_threads(args.torch_threads)
    x_train, y_train, x_val, y_val = (torch.from_numpy(a) for a in data)
    model = torch_model(torch, build(task["optimizer"], task["lr"], args.backend, seed))
    opt = torch.optim.Adam(model.parameters(), lr=task["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "time": []}
    line = EpochLine(task["name"] + " (PyTorch)")
    generator = torch.Generator().manual_seed(seed)
    n = len(x_train)
    last_line = time.perf_counter()
    for epoch in range(args.epochs):
        start = time.perf_counter()
        model.train()
        loss_sum, correct = 0.0, 0
        batches = torch.randperm(n, generator=generator).split(task["batch_size"])
        for b, idx in enumerate(batches):
            if time.perf_counter() - last_line >= 10:  # a slow epoch (a busy machine) still shows progress
                last_line = time.perf_counter()
                print(f"  {task['name']} (PyTorch): epoch {epoch + 1}, batch {b}/{len(batches)} "
                      f"({_common.duration(last_line - start)})", flush=True)
            opt.zero_grad()
            logits = model(x_train[idx])
            loss = loss_fn(logits, y_train[idx])
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y_train[idx]).sum())
        history["loss"].append(loss_sum / n)
        history["accuracy"].append(correct / n)
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            history["val_loss"].append(float(loss_fn(logits, y_val)))
            history["val_accuracy"].append(float((logits.argmax(1) == y_val).float().mean()))
        history["time"].append(time.perf_counter() - start)
        line.on_epoch_end(epoch, {k: v[-1] for k, v in history.items()})
        last_line = time.perf_counter()
    return history


RUNNERS = {"pydl": run_pydl, "torch": run_torch}


def run_task(config, seed):
    """One run of one table row (a task of pydl.experiments.sweep); {} when PyTorch is not installed."""
    args = config["args"]
    if args.runs > 1:
        print(f"{config['name']}: run {seed - args.seed + 1}/{args.runs} (seed {seed})", flush=True)
    history = RUNNERS[config["runner"]](TASKS[config["task"]], load(args), args, seed)
    return {} if history is None else {"history": history}


@functools.lru_cache(maxsize=1)
def _load_cached(dataset, data, limit):
    loader = load_mnist if dataset == "mnist" else load_fashion_mnist
    path = _common.mnist_folder(data, dataset)
    with _common.dataset_or_exit():
        x_train, y_train = loader(path, "train", flatten=True)
        x_val, y_val = loader(path, "test", flatten=True)
    if limit:
        x_train, y_train = x_train[:limit], y_train[:limit]
        x_val, y_val = x_val[:max(limit // 5, 1)], y_val[:max(limit // 5, 1)]
    return x_train, y_train, x_val, y_val


def load(args):
    """The training and validation images (read once per process)."""
    return _load_cached(args.dataset, args.data, args.limit)


def main():
    parser = _common.make_parser(__doc__, runs=1, epochs=50)
    parser.add_argument("--dataset", choices=("mnist", "fashion"), default="mnist")
    parser.add_argument("--data", metavar="DIR", help="folder with the four IDX files (.gz or raw)")
    parser.add_argument("--tasks", default="1,2", help="1 (SGD), 2 (Adam), or 1,2")
    parser.add_argument("--torch-threads", type=int, default=1, help="PyTorch's threads (see above)")
    parser.add_argument("--limit", type=int, default=0,
                        help="train on the first N images only (and validate on N/5); 0 = all")
    args = _common.parse(parser, quick={"epochs": 2, "limit": 1000})
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    out = _common.Output(args.out)
    data = load(args)
    print(f"{args.dataset}: {len(data[0])} training and {len(data[2])} validation (test-split) images; "
          f"backend {args.backend}\n")

    what = args.dataset + (f", --quick: first {len(data[0])} training images" if args.quick else "")
    table = _common.Table(f"Hyper-parameters and final accuracies ({what}; T_ACC: running mean over the "
                          f"last epoch's batches, V_ACC: test split after the last epoch; Time: all epochs, "
                          f"training + validation"
                          f"{f'; mean ± std of {args.runs} runs, seeds {args.seed}..{args.seed + args.runs - 1}' if args.runs > 1 else ''})",
                          ["Network", "Epoch", "Batch size", "Learning rate", "T_ACC", "V_ACC",
                           "Activation function", "Loss function", "Time"])
    columns = []  # (task key, runner, name, label)
    for key in args.tasks.split(","):
        task = TASKS[key]
        columns.append((key, "pydl", task["name"], task["name"]))
        if key == "2":
            threads = f"{args.torch_threads} thread{'s' * (args.torch_threads > 1)}"
            columns.append((key, "torch", task["name"] + " (PyTorch)", f"{task['name']} (PyTorch, {threads})"))
    runs = _common.run_configs(run_task, [{"name": name, "task": key, "runner": runner, "args": args}
                                          for key, runner, name, _ in columns], args)
    histories = {}
    for (key, _, name, label), column in zip(columns, runs):
        task = TASKS[key]
        results = [r["history"] for r in column if r]
        if not results:
            print(f"(PyTorch is not installed: skipping {name})" if "PyTorch" in name else f"({name}: no run finished)")
            continue
        history = _common.mean_curves(results)
        histories[name] = results
        file_name = "mnist_" + name.lower().replace(" ", "_").replace("(", "").replace(")", "")
        _common.plot_curves(out, label, file_name, history, val_label="validation (test split)")
        table.add(f"{label}: {'-'.join(map(str, SIZES))}", args.epochs, task["batch_size"], task["lr"],
                  _common.mean_std([100 * r["accuracy"][-1] for r in results], "{:.4f}"),
                  _common.mean_std([100 * r["val_accuracy"][-1] for r in results], "{:.4f}"),
                  "ReLU", "Softmax and cross-entropy loss", _common.mean_std([sum(r["time"]) for r in results]))
        print()
    out.table(f"mnist_mlp_{args.dataset}", table)
    out.json(f"mnist_mlp_{args.dataset}", {"args": vars(args), "history": histories})


if __name__ == "__main__":
    main()
