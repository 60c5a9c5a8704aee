"""What every report script shares: the command line, tables (Markdown and CSV), JSON, plots, timing.

Scripts run as ``python scripts/NAME.py``, so this module is imported as plain ``_common``.
"""
import argparse
import csv
import io
import json
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pydl.callbacks import Callback

REPO = Path(__file__).resolve().parent.parent


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and epilogs as written (the docstrings are wrapped by hand), defaults after each option."""


def make_parser(description, *, runs, epochs, seed=0):
    """The options every script has; scripts add their own to the parser returned."""
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    p.add_argument("--seed", type=int, default=seed, help="base random seed (run i uses seed + i)")
    p.add_argument("--runs", type=int, default=runs, help="repetitions averaged in the tables")
    p.add_argument("--epochs", type=int, default=epochs, help="training epochs")
    p.add_argument("--backend", choices=("cpp", "numpy"), default="cpp",
                   help="pydl kernels: C++ or the NumPy reference")
    p.add_argument("--out", metavar="DIR", help="write tables (.md, .csv), histories (.json) and plots (.png) here")
    p.add_argument("--quick", action="store_true", help="tiny smoke-test settings (seconds)")
    p.add_argument("--workers", type=int, default=1,
                   help="local worker processes for the runs (1: one after another in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the runs on a Dask cluster (e.g. tcp://host:8786; pip install 'pydl[distributed]'); "
                        "its workers need pydl installed and this scripts/ folder on PYTHONPATH")
    return p


def parse(parser, quick):
    """Parse the command line; with --quick, options left at their defaults take the ``quick`` values."""
    args = parser.parse_args()
    if args.quick:
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    return args


# ---- formatting ---------------------------------------------------------------------------------

def pct(x, digits=2):
    return f"{100 * x:.{digits}f}%"


def duration(seconds):
    """Like the reports: 0.06ms, 124.59ms, 1.29s, 15m 5s."""
    if seconds < 1:
        return f"{seconds * 1e3:.2f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest}s"


class Table:
    """A report table: label columns then value columns, cells already formatted as strings.

    In Markdown a first-column label equal to the one above is left blank, which gives the reports'
    grouped rows (Accuracy / Train, Test); CSV repeats it so every row stands alone.
    """

    def __init__(self, title, header):
        self.title = title
        self.header = [str(h) for h in header]
        self.rows = []

    def add(self, *cells):
        if len(cells) != len(self.header):
            raise ValueError(f"table {self.title!r}: row has {len(cells)} cells, header {len(self.header)}")
        self.rows.append([str(c) for c in cells])

    def markdown(self):
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.header) + " |",
                 "|" + "|".join("---" for _ in self.header) + "|"]
        previous = None
        for row in self.rows:
            first = "" if row[0] == previous else row[0]
            previous = row[0]
            lines.append("| " + " | ".join([first] + row[1:]) + " |")
        return "\n".join(lines)

    def csv(self):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return buf.getvalue()


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")


class Output:
    """Prints tables and, with ``--out DIR``, also writes them (and JSON and PNG files) into DIR."""

    def __init__(self, out_dir):
        self.dir = Path(out_dir) if out_dir else None
        if self.dir:
            self.dir.mkdir(parents=True, exist_ok=True)
        self._pyplot = None
        self._warned = False

    def table(self, name, table):
        print(table.markdown(), end="\n\n", flush=True)
        if self.dir:
            (self.dir / f"{name}.md").write_text(table.markdown() + "\n")
            (self.dir / f"{name}.csv").write_text(table.csv())

    def json(self, name, obj):
        if self.dir:
            (self.dir / f"{name}.json").write_text(json.dumps(obj, indent=1, default=_jsonable) + "\n")

    @property
    def pyplot(self):
        """matplotlib.pyplot (non-interactive) when there is a DIR to save into and it is installed, else None."""
        if self.dir is None:
            return None
        if self._pyplot is None:
            try:
                import matplotlib
                matplotlib.use("Agg")
                import matplotlib.pyplot as plt
            except ImportError:
                if not self._warned:
                    print("(matplotlib is not installed: skipping plots; pip install matplotlib)", file=sys.stderr)
                    self._warned = True
                return None
            self._pyplot = plt
        return self._pyplot

    def figure(self, name, fig):
        fig.savefig(self.dir / f"{name}.png", dpi=100, bbox_inches="tight")
        self.pyplot.close(fig)


def integer_epochs(ax):
    """Epoch axes get whole-number ticks only (a 2-epoch run would otherwise show 1.25, 1.5, ...)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_panels(out, file_name, title, panels):
    """One panel per entry of ``panels``: (y label, [(line label, values per epoch, plot kwargs), ...]),
    against the epoch (1, 2, ...), side by side, as `file_name`.png."""
    plt = out.pyplot
    if plt is None:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False, constrained_layout=True)
    for ax, (ylabel, lines) in zip(axes[0], panels):
        for label, values, kwargs in lines:
            ax.plot(range(1, len(values) + 1), values, label=label, **kwargs)
        integer_epochs(ax)
        ax.set(xlabel="epoch", ylabel=ylabel)
        ax.legend(fontsize=8)
    fig.suptitle("\n".join(textwrap.wrap(title, 60 * len(panels))))
    out.figure(file_name, fig)


TRAIN_RUNNING = "training (running mean over the epoch's batches, each before its update)"


def plot_curves(out, title, file_name, history, val_label="validation"):
    """History's training and validation loss and accuracy per epoch, labelled with what they measure."""
    plot_panels(out, file_name, title, [
        (key, [(TRAIN_RUNNING, history[key], {}),
               (f"{val_label} (after the epoch)", history["val_" + key], {})])
        for key in ("loss", "accuracy")])


def plot_bars(out, file_name, title, values, ylabel):
    """A bar chart of ``values`` (label -> number), each bar annotated; log scale when they span 100x."""
    plt = out.pyplot
    if plt is None:
        return
    labels, heights = list(values), [float(v) for v in values.values()]
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(labels)), 4))
    bars = ax.bar(range(len(labels)), heights, color="tab:blue")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=8, **(dict(rotation=20, ha="right") if len(labels) > 3 else {}))
    positive = [h for h in heights if h > 0]
    if positive and max(positive) > 100 * min(positive):
        ax.set_yscale("log")
    for bar, h in zip(bars, heights):
        ax.annotate(duration(h) if "second" in ylabel else f"{h:.3g}", (bar.get_x() + bar.get_width() / 2, h),
                    ha="center", va="bottom", fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    out.figure(file_name, fig)


def plot_boundary(out, file_name, title, prob, x, y, extent=2.0):
    """P(y=1) of a 2-D classifier over [-extent, extent]² with its colorbar, the 0.5 level, the true
    boundary x1 = x0² and the points: class 0 white circles and class 1 black triangles, both edged in the
    other colour so they stay visible on either region. ``prob(points (M, 2)) -> (M,)``."""
    plt = out.pyplot
    if plt is None:
        return
    grid = np.linspace(-extent, extent, 201, dtype=x.dtype)
    gx, gy = np.meshgrid(grid, grid)
    p = np.asarray(prob(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(6, 5))
    filled = ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.7)
    fig.colorbar(filled, ax=ax, label="P(y=1)")
    ax.contour(gx, gy, p, levels=[0.5], colors="k", linewidths=1.5)
    labels = np.asarray(y).reshape(-1)
    for cls, style in ((0, dict(marker="o", facecolors="white", edgecolors="black")),
                       (1, dict(marker="^", facecolors="black", edgecolors="white"))):
        pts = x[labels == cls]
        ax.scatter(pts[:, 0], pts[:, 1], s=14, linewidths=0.6, label=f"y={cls} ({len(pts)})", **style)
    ax.plot(grid, grid ** 2, color="lime", linestyle="--", label="true boundary x1 = x0²")
    ax.plot([], [], color="k", label="P(y=1) = 0.5")
    ax.set(xlim=(-extent, extent), ylim=(-extent, extent), xlabel="x0", ylabel="x1", title=title)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    out.figure(file_name, fig)


def history_dict(history):
    """A History (or a plain dict of lists) as JSON-ready lists of floats."""
    data = getattr(history, "history", history)
    return {k: [float(v) for v in values] for k, values in data.items()}


# ---- running ------------------------------------------------------------------------------------

@contextmanager
def timer(store, key):
    """Add the seconds spent in the block to ``store[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        store[key] = store.get(key, 0.0) + time.perf_counter() - start


def run_configs(task, configs, args):
    """``task(config, seed)`` for every configuration and run through pydl.experiments.sweep (paired seeds:
    run i of every configuration gets seed ``args.seed + i``, as the reports compare columns on the same
    data), on ``--workers`` local processes or the ``--scheduler`` Dask cluster. Returns, per
    configuration, its runs' results in run order; failed runs are reported and left out."""
    from pydl.experiments import sweep

    executor, client = None, None
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError:
            sys.exit("--scheduler needs dask's distributed scheduler: pip install 'pydl[distributed]'")
        client = Client(args.scheduler)
        executor = client.get_executor()
    try:
        result = sweep(task, configs, runs=args.runs, seed=args.seed, executor=executor, workers=args.workers,
                       paired=True)
    finally:
        if client is not None:
            client.close()
    for error in result.errors:
        say(f"  run {error['run']} of {error['config'].get('name', error['config_index'])} failed: {error['error']}")
    return [result.metrics(i) for i in range(len(configs))]


def progress(iterable, desc, total=None):
    # disable=None: bars only on a terminal, so logs and tests stay clean.
    return tqdm(iterable, desc=desc, total=total, disable=None, leave=False)


def say(*parts):
    """A progress line on stdout, flushed at once (stdout is often a pipe or a log file)."""
    print(*parts, flush=True)


class EpochProgress(Callback):
    """Prints "<name>: epoch e/E, <logs>, <elapsed>" after an epoch when ``every`` seconds have passed since
    the last line (and after the last epoch), so long runs show they are alive and short ones stay quiet."""

    def __init__(self, name, epochs, every=10.0, keys=("loss", "val_loss", "val_accuracy")):
        self.name, self.epochs, self.every, self.keys = name, epochs, every, keys

    def on_train_begin(self, network):
        self.start = self.last = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        now = time.perf_counter()
        if now - self.last >= self.every or (epoch + 1 == self.epochs and now - self.start >= self.every):
            self.last = now
            shown = ", ".join(f"{k} {logs[k]:.4f}" for k in self.keys if k in logs)
            say(f"  {self.name}: epoch {epoch + 1}/{self.epochs}, {shown} ({duration(now - self.start)})")


class Ticker:
    """Prints "<what> i/n done (elapsed)" for the i-th of n units when ``every`` seconds have passed since
    the last line, or for the last one: progress of a loop of runs without flooding a --quick log."""

    def __init__(self, what, n, every=10.0):
        self.what, self.n, self.every = what, n, every
        self.start = self.last = time.perf_counter()

    def done(self, i):
        now = time.perf_counter()
        if now - self.last >= self.every or i + 1 == self.n:
            self.last = now
            say(f"  {self.what} {i + 1}/{self.n} done ({duration(now - self.start)})")


def import_torch():
    """torch, or None when it is not installed (its columns are then left out)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def mean_std(values, fmt=None):
    """The mean of ``values`` formatted with ``fmt`` (None: as a duration), "± std" after it for several."""
    show = (lambda v: duration(float(v))) if fmt is None else fmt.format
    text = show(np.mean(values))
    return text if len(values) == 1 else f"{text} ± {show(np.std(values))}"


def mean_curves(histories):
    """Per-epoch mean of several History dicts with the same keys and lengths."""
    return {k: [float(v) for v in np.mean([h[k] for h in histories], axis=0)] for k in histories[0]}


def mean_of(results):
    """Element-wise mean of a list of dicts with the same numeric keys."""
    return {k: float(np.mean([r[k] for r in results])) for k in results[0]}


def mnist_folder(data, dataset="mnist"):
    """Where to read MNIST from: ``data`` when given, else the shared copy next to the repository
    (../shared/data/mnist) when present, else None (the loaders' own search: $PYDL_DATA, ~/.pydl/data)."""
    shared = REPO.parent / "shared" / "data" / "mnist"
    if data is None and dataset == "mnist" and shared.is_dir():
        return shared
    return data


@contextmanager
def dataset_or_exit():
    """Around loading only: a missing dataset (or a corrupt file, ValueError naming it) becomes its
    message on stderr and exit status 2, not a traceback."""
    try:
        yield
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
