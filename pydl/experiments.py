"""Repeated runs and hyper-parameter grids, on local processes or any ``concurrent.futures`` executor.

Every report is a table of configurations x repeated runs. :func:`sweep` runs ``train_fn(config, seed)``
once per (configuration, run) as an independent task and gathers the returned metrics::

    def train(config, seed):                      # a module-level function: tasks travel by pickle
        net = pydl.Network(..., optimizer=optim.SGD(lr=config["lr"]), seed=seed)
        net.fit(x, y, epochs=100, verbose=0, seed=seed)
        return net.evaluate(x_test, y_test)       # a dict of numbers

    result = pydl.experiments.sweep(train, {"lr": [0.1, 1.0]}, runs=10)
    print(result.summary().to_markdown())         # mean and standard deviation per configuration

Tasks run on a local process pool by default (one kernel thread per worker), or on the ``executor`` given:
``dask.distributed.Client(address).get_executor()`` for a Dask cluster, ``mpi4py.futures.MPIPoolExecutor``
or any other. A task's seed depends only on (seed, configuration, run), so the numbers are the same
whatever ran them. A task that raises is recorded with its error and the others go on; a worker lost
mid-run is retried (by Dask itself, or here for the local pool); Ctrl-C cancels what has not started.
"""
import csv
import io
import itertools
import json
import math
import os
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

import numpy as np
from tqdm import tqdm

from ._args import check_int

__all__ = ["sweep", "grid_configs", "task_seed", "SweepResult", "Summary"]

_LOCAL_RETRIES = 3  # fresh local pools after a worker died, before the remaining tasks count as failed


def grid_configs(grid):
    """The configurations of ``grid``: a dict of lists is expanded to every combination (in the order of
    its keys, the last varying fastest, as scikit-learn's ParameterGrid); a list of dicts is taken as is."""
    if isinstance(grid, dict):
        keys = list(grid)
        for key in keys:
            if not isinstance(key, str):
                raise TypeError(f"sweep: grid keys must be strings, got {key!r}")
            if not isinstance(grid[key], (list, tuple)) or not grid[key]:
                raise ValueError(f"sweep: grid[{key!r}] must be a non-empty list of values, got {grid[key]!r}")
        return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    if isinstance(grid, (list, tuple)) and grid and all(isinstance(c, dict) for c in grid):
        return [dict(c) for c in grid]
    raise TypeError("sweep: grid must be a dict of value lists or a non-empty list of configuration dicts, "
                    f"got {type(grid).__name__}")


def task_seed(seed, config_index, run, paired=False):
    """The seed of run ``run`` of configuration ``config_index``: ``seed + run`` when ``paired`` (every
    configuration of a run sees the same seed, as the reports compare columns on the same data), else
    drawn from ``SeedSequence([seed, config_index, run])``."""
    if paired:
        return seed + run
    return int(np.random.SeedSequence([seed, config_index, run]).generate_state(1, np.uint64)[0] >> 1)


class _Task:
    """One (configuration, run): picklable, run by a worker."""

    def __init__(self, train_fn, config, seed):
        self.train_fn, self.config, self.seed = train_fn, config, seed

    def __call__(self):
        try:
            metrics = self.train_fn(dict(self.config), self.seed)
        except Exception as error:  # noqa: BLE001 -- a task's failure is a result: the sweep goes on
            return None, f"{type(error).__name__}: {error}", traceback.format_exc()
        if not isinstance(metrics, dict):
            return None, f"TypeError: train_fn returned {type(metrics).__name__}, not a dict of metrics", ""
        return metrics, None, None


def _one_thread():
    """Worker initializer: kernels on one thread, so workers do not fight over the cores."""
    from . import set_num_threads
    set_num_threads(1)


def sweep(train_fn, grid, runs=1, seed=0, executor=None, workers=None, paired=False, progress=True):
    """Run ``train_fn(config, seed)`` for every configuration of ``grid`` (see :func:`grid_configs`) and run
    ``0 .. runs-1``; returns a :class:`SweepResult`.

    ``executor``: a ``concurrent.futures.Executor`` to submit the tasks to (left open); None runs them on a
    local process pool of ``workers`` processes (default: the CPU count), or in this process when
    ``workers == 1``. ``paired``: every configuration of run i gets the same seed ``seed + i``.
    ``progress``: a bar of tasks done (tqdm, on stderr)."""
    if not callable(train_fn):
        raise TypeError(f"sweep: train_fn must be callable, got {type(train_fn).__name__}")
    configs = grid_configs(grid)
    runs = check_int("sweep: runs", runs, 1, 1 << 31)
    seed = check_int("sweep: seed", seed, 0, 1 << 62)
    if workers is not None:
        workers = check_int("sweep: workers", workers, 1, 1024)
    tasks = {(c, r): _Task(train_fn, config, task_seed(seed, c, r, paired))
             for c, config in enumerate(configs) for r in range(runs)}
    # A bar on a terminal only (as the report scripts' others): logs and pipes stay clean.
    bar = tqdm(total=len(tasks), desc="tasks", unit="task", disable=None if progress else True, leave=False)
    try:
        if executor is not None:
            outcomes = _run_on(executor, tasks, bar)
        elif (workers or os.cpu_count() or 1) == 1:
            outcomes = {}
            for key, task in tasks.items():
                outcomes[key] = task()
                bar.update()
        else:
            outcomes = _run_locally(tasks, workers or os.cpu_count(), bar)
    finally:
        bar.close()
    records = []
    for (c, r), task in tasks.items():
        metrics, error, trace = outcomes[c, r]
        record = {"config": dict(configs[c]), "config_index": c, "run": r, "seed": task.seed}
        if error is None:
            record["metrics"] = metrics
        else:
            record["error"], record["traceback"] = error, trace
        records.append(record)
    return SweepResult(configs, records)


def _run_on(executor, tasks, bar):
    """Submit every task and gather the outcomes; Ctrl-C cancels what has not started and re-raises."""
    futures = {executor.submit(task): key for key, task in tasks.items()}
    outcomes = {}
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    outcomes[futures[future]] = future.result()
                except Exception as error:  # noqa: BLE001 -- the engine lost the task (a worker died for good)
                    outcomes[futures[future]] = (None, f"{type(error).__name__}: {error}", "")
                bar.update()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return outcomes


def _run_locally(tasks, workers, bar):
    """Tasks on local worker processes. A worker that dies (killed, out of memory) breaks the pool: the
    tasks without an outcome run again on a fresh pool, up to ``_LOCAL_RETRIES`` times."""
    outcomes, left = {}, dict(tasks)
    for attempt in range(_LOCAL_RETRIES + 1):
        pool = ProcessPoolExecutor(max_workers=min(workers, len(left)), initializer=_one_thread)
        try:
            got = _run_on(pool, left, bar)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        broken = {key for key, (_, error, _) in got.items() if error and error.startswith(BrokenProcessPool.__name__)}
        outcomes.update({key: outcome for key, outcome in got.items() if key not in broken})
        left = {key: tasks[key] for key in broken}
        if not left:
            break
        bar.update(-len(left))
    outcomes.update({key: (None, "BrokenProcessPool: a worker process died", "") for key in left})
    return outcomes


class SweepResult:
    """What :func:`sweep` gathered: ``records`` (one dict per task: config, config_index, run, seed, and
    ``metrics`` or ``error``), ``configs``, and the report tables of :meth:`summary`."""

    def __init__(self, configs, records):
        self.configs, self.records = configs, records

    @property
    def errors(self):
        return [r for r in self.records if "error" in r]

    def metrics(self, config_index):
        """The metric dicts of one configuration's successful runs, in run order."""
        return [r["metrics"] for r in self.records if r["config_index"] == config_index and "metrics" in r]

    def summary(self):
        """Mean and (sample) standard deviation of every numeric metric per configuration."""
        rows = []
        for c, config in enumerate(self.configs):
            runs = self.metrics(c)
            failed = [r["error"] for r in self.records if r["config_index"] == c and "error" in r]
            names = sorted({k for m in runs for k, v in m.items() if _is_number(v)})
            stats = {}
            for name in names:
                values = np.array([m[name] for m in runs if name in m], dtype=float)
                stats[name] = (float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0)
            rows.append({"config": config, "runs": len(runs), "failed": failed, "stats": stats})
        return Summary(rows)

    def plot(self, metric, path=None, label=None):
        """A bar per configuration: the mean of ``metric`` with its standard deviation; saved to ``path``
        or shown. Needs matplotlib."""
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("SweepResult.plot needs matplotlib: pip install matplotlib") from None
        rows = self.summary().rows
        names = [label(r["config"]) if label else _config_text(r["config"]) for r in rows]
        means = [r["stats"].get(metric, (math.nan, 0))[0] for r in rows]
        stds = [r["stats"].get(metric, (math.nan, 0))[1] for r in rows]
        fig = Figure(figsize=(max(4, 1.2 * len(rows)), 4)) if path else None
        if fig is None:
            import matplotlib.pyplot as plt
            fig = plt.figure(figsize=(max(4, 1.2 * len(rows)), 4))
        ax = fig.add_subplot(1, 1, 1)
        ax.bar(range(len(rows)), means, yerr=stds, capsize=4)
        ax.set_xticks(range(len(rows)), names, rotation=30, ha="right")
        ax.set_ylabel(f"{metric} (mean ± std)")
        fig.tight_layout()
        if path:
            fig.savefig(path)
        else:
            import matplotlib.pyplot as plt
            plt.show()
        return fig


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _config_text(config):
    return ", ".join(f"{k}={v}" for k, v in config.items())


class Summary:
    """The per-configuration table: ``rows`` (config, runs, failed errors, stats name -> (mean, std)) and
    its renderings."""

    def __init__(self, rows):
        self.rows = rows
        self.metric_names = sorted({name for r in rows for name in r["stats"]})
        self.config_keys = list(dict.fromkeys(k for r in rows for k in r["config"]))

    def _cells(self, digits):
        header = self.config_keys + ["runs"] + [f"{m} (mean ± std)" for m in self.metric_names] + ["errors"]
        body = []
        for r in self.rows:
            cells = [str(r["config"].get(k, "")) for k in self.config_keys] + [str(r["runs"])]
            for m in self.metric_names:
                mean, std = r["stats"].get(m, (math.nan, math.nan))
                cells.append(f"{mean:.{digits}g} ± {std:.{digits}g}")
            cells.append("; ".join(sorted(set(r["failed"]))))
            body.append(cells)
        return header, body

    def to_markdown(self, digits=4):
        header, body = self._cells(digits)
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in body]
        return "\n".join(lines)

    def to_csv(self):
        """One row per configuration: its keys, runs, then mean and std columns per metric, then errors."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.config_keys + ["runs"] + [f"{m}_{s}" for m in self.metric_names for s in ("mean", "std")]
                        + ["errors"])
        for r in self.rows:
            stats = [v for m in self.metric_names for v in r["stats"].get(m, (math.nan, math.nan))]
            writer.writerow([r["config"].get(k, "") for k in self.config_keys] + [r["runs"]] + stats
                            + ["; ".join(r["failed"])])
        return out.getvalue()

    def to_json(self):
        return json.dumps([{"config": r["config"], "runs": r["runs"], "failed": r["failed"],
                            "mean": {m: s[0] for m, s in r["stats"].items()},
                            "std": {m: s[1] for m, s in r["stats"].items()}} for r in self.rows], indent=1)

    def __str__(self):
        return self.to_markdown()
