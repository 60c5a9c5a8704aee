"""pydl.experiments.sweep: configurations x runs as independent tasks, the same numbers on any executor
(sequential, a local process pool, a real Dask cluster on loopback), failures recorded, lost workers retried."""
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from pydl import experiments
from pydl.experiments import grid_configs, sweep, task_seed

sys.path.insert(0, str(Path(__file__).parent))
import sweep_tasks  # noqa: E402

GRID = {"lr": [0.5, 5.0], "batch_size": ["full", 50]}


def _numbers(result):
    return [(r["config_index"], r["run"], r["seed"], r.get("metrics"), r.get("error")) for r in result.records]


@pytest.fixture(scope="module")
def sequential():
    return sweep(sweep_tasks.train_parabola, GRID, runs=2, seed=3, workers=1, progress=False)


def test_a_grid_expands_like_scikit_learns_parameter_grid():
    assert grid_configs({"a": [1, 2], "b": ["x", "y"]}) == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"},
                                                          {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    assert grid_configs([{"lr": 1}, {"lr": 2, "momentum": 0.9}]) == [{"lr": 1}, {"lr": 2, "momentum": 0.9}]
    with pytest.raises(ValueError, match="non-empty list"):
        grid_configs({"lr": []})
    with pytest.raises(TypeError, match="dict of value lists"):
        grid_configs("lr")


def test_seeds_depend_on_seed_configuration_and_run_only():
    seeds = {task_seed(0, c, r) for c in range(4) for r in range(5)}
    assert len(seeds) == 20 and task_seed(0, 1, 2) == task_seed(0, 1, 2) != task_seed(1, 1, 2)
    assert [task_seed(7, c, 3, paired=True) for c in range(3)] == [10, 10, 10]


def test_records_and_summary(sequential):
    assert len(sequential.records) == 8 and not sequential.errors
    rec = sequential.records[0]
    assert rec["config"] == {"lr": 0.5, "batch_size": "full"} and rec["run"] == 0
    assert set(rec["metrics"]) >= {"loss", "accuracy"}
    summary = sequential.summary()
    accs = [m["accuracy"] for m in sequential.metrics(1)]
    mean, std = summary.rows[1]["stats"]["accuracy"]
    assert mean == pytest.approx(np.mean(accs)) and std == pytest.approx(np.std(accs, ddof=1))
    md = summary.to_markdown()
    assert md.splitlines()[0].startswith("| lr | batch_size | runs | accuracy (mean ± std)")
    assert summary.to_csv().splitlines()[0].startswith("lr,batch_size,runs,accuracy_mean,accuracy_std")
    assert '"mean"' in summary.to_json()


def test_a_local_process_pool_gives_the_same_numbers(sequential):
    pooled = sweep(sweep_tasks.train_parabola, GRID, runs=2, seed=3, workers=2, progress=False)
    assert _numbers(pooled) == _numbers(sequential)


def test_any_executor_gives_the_same_numbers(sequential):
    with ThreadPoolExecutor(3) as pool:
        threaded = sweep(sweep_tasks.train_parabola, GRID, runs=2, seed=3, executor=pool, progress=False)
    assert _numbers(threaded) == _numbers(sequential)


def test_a_failing_task_is_reported_and_the_others_finish():
    result = sweep(sweep_tasks.fail_on_large_lr, GRID, runs=2, workers=2, progress=False)
    assert len(result.errors) == 4
    assert all(e["error"] == "ArithmeticError: lr 5.0 is too large" for e in result.errors)
    assert "fail_on_large_lr" in result.errors[0]["traceback"]
    summary = result.summary()
    assert summary.rows[2]["runs"] == 0 and summary.rows[2]["failed"]
    assert "ArithmeticError" in summary.to_markdown()
    bad = sweep(sweep_tasks.not_a_dict, {"lr": [1]}, workers=1, progress=False)
    assert "not a dict" in bad.errors[0]["error"]


def test_a_worker_lost_mid_run_is_retried_locally(tmp_path, sequential):
    grid = dict(GRID, marker=[str(tmp_path / "died")])
    result = sweep(sweep_tasks.die_once, grid, runs=2, seed=3, workers=2, progress=False)
    assert (tmp_path / "died").exists(), "no worker was killed: the test did not test anything"
    assert _numbers(result) == _numbers(sequential)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    # Workers are separate processes: they import tests/sweep_tasks.py through PYTHONPATH.
    tests_dir = str(Path(__file__).parent)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = tests_dir + (os.pathsep + old if old else "")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_a_dask_cluster_gives_the_same_numbers(dask_client, sequential):
    result = sweep(sweep_tasks.train_parabola, GRID, runs=2, seed=3, executor=dask_client.get_executor(),
                   progress=False)
    assert _numbers(result) == _numbers(sequential)


def test_a_dask_worker_killed_mid_run_is_retried_by_the_scheduler(dask_client, tmp_path, sequential):
    marker = str(tmp_path / "died")
    result = sweep(sweep_tasks.die_once, dict(GRID, marker=[marker]), runs=2, seed=3,
                   executor=dask_client.get_executor(), progress=False)
    assert os.path.exists(marker), "no worker was killed: the test did not test anything"
    assert _numbers(result) == _numbers(sequential)


def test_ctrl_c_cancels_the_sweep_cleanly(tmp_path):
    import signal
    import subprocess
    import time

    code = ("import sys; sys.path.insert(0, %r); import sweep_tasks; from pydl.experiments import sweep; "
            "print('started', flush=True); "
            "sweep(sweep_tasks.sleepy, {'seconds': [0.5] * 40}, workers=2, progress=False)") % str(Path(__file__).parent)
    # SIGINT back to its default in the child: a shell running the suite in the background ignores it, and
    # Python turns Ctrl-C into KeyboardInterrupt only when SIGINT was not ignored at start.
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.5)  # some tasks done, most not started
    start = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert time.perf_counter() - start < 5, "the tasks not started should have been cancelled"
