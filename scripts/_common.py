"""What every report script shares: the command line, tables (Markdown and CSV), JSON, plots, timing.

Scripts run as ``python scripts/NAME.py``, so this module is imported as plain ``_common``.
"""
import argparse
import csv
import io
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent


def make_parser(description, *, runs, epochs, seed=0):
    """The options every script has; scripts add their own to the parser returned."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seed", type=int, default=seed, help="base random seed (run i uses seed + i)")
    p.add_argument("--runs", type=int, default=runs, help="repetitions averaged in the tables")
    p.add_argument("--epochs", type=int, default=epochs, help="training epochs")
    p.add_argument("--backend", choices=("cpp", "numpy"), default="cpp",
                   help="pydl kernels: C++ or the NumPy reference")
    p.add_argument("--out", metavar="DIR", help="write tables (.md, .csv), histories (.json) and plots (.png) here")
    p.add_argument("--quick", action="store_true", help="tiny smoke-test settings (seconds)")
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


def plot_curves(out, title, file_name, history, val_label="validation"):
    """Training and validation loss and accuracy per epoch, side by side, as `file_name`.png."""
    plt = out.pyplot
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = range(1, len(history["loss"]) + 1)
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[key], label="training")
        ax.plot(epochs, history["val_" + key], label=val_label)
        ax.set(xlabel="epoch", ylabel=key, title=f"{title}: {key}")
        ax.legend()
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


def progress(iterable, desc, total=None):
    # disable=None: bars only on a terminal, so logs and tests stay clean.
    return tqdm(iterable, desc=desc, total=total, disable=None, leave=False)


def import_torch():
    """torch, or None when it is not installed (its columns are then left out)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


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
