"""Every report script end to end in --quick mode, on generated data in tmp_path (never the real datasets)."""
import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pydl.datasets as ds

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture
def env(tmp_path):
    # Point every default data location at empty folders: the scripts must not find real data by accident.
    env = dict(os.environ, PYDL_DATA=str(tmp_path / "no_data"), HOME=str(tmp_path / "home"))
    env.pop("MPLBACKEND", None)
    return env


def run(script, *args, env, expect=0, timeout=120):
    proc = subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert proc.returncode == expect, f"{script} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def check_outputs(out, names, pngs):
    for name in names:
        assert (out / f"{name}.md").read_text().startswith("**"), name
        with open(out / f"{name}.csv", newline="") as f:
            rows = list(csv.reader(f))
        assert len(rows) >= 2 and all(len(r) == len(rows[0]) for r in rows), name
    produced = {p.name for p in out.glob("*.png")}
    if HAVE_MATPLOTLIB:
        assert set(pngs) <= produced, produced
    else:
        assert not produced


@pytest.fixture
def mnist_dir(tmp_path):
    return ds.write_fake_mnist(tmp_path / "mnist", n_train=200, n_test=60, seed=1)


@pytest.mark.parametrize("script", ["practice3.py", "practice4.py", "cifar10_linear.py", "mnist_mlp.py",
                                    "conv_practice.py"])
def test_help(script, env):
    proc = run(script, "--help", env=env)
    for option in ("--seed", "--runs", "--epochs", "--backend", "--out", "--quick"):
        assert option in proc.stdout


def test_practice3(tmp_path, env):
    out = tmp_path / "out"
    proc = run("practice3.py", "--quick", "--out", out, env=env)
    for row in ("Accuracy | Train Set", "| Test Set", "Loss | Train Set", "Elapsed Time | Training", "| Inference"):
        assert row in proc.stdout
    assert "Model #1 | Model #2 | Model #3" in proc.stdout
    check_outputs(out, ["practice3_000"], [f"boundary_Model{i}.png" for i in (1, 2, 3)])
    data = json.loads((out / "practice3_000.json").read_text())
    assert len(data["runs"]["Model #3"]) == 2 and len(data["history"]["Model #1"][0]["loss"]) == 50


def test_practice3_variant_004(tmp_path, env):
    proc = run("practice3.py", "--quick", "--variant", "004", "--runs", "1", "--epochs", "5", env=env)
    assert "Learning rate: 2.000000" in proc.stdout
    assert "w0 : " in proc.stdout and "b1 : " in proc.stdout and "Total params" in proc.stdout


def test_practice4(tmp_path, env):
    out = tmp_path / "out"
    proc = run("practice4.py", "--quick", "--out", out, env=env)
    for title in ("Table 1", "Table 2", "Table 3", "Table 4"):
        assert title in proc.stdout
    assert "SGD (10.0) | RMSProp (0.01) | Adam (1.0)" in proc.stdout
    assert "pydl NumPy reference | pydl C++" in proc.stdout
    check_outputs(out, [f"practice4_table{t}" for t in (1, 2, 3, 4)], [])
    data = json.loads((out / "practice4.json").read_text())
    assert set(data["mean"]["table4"]) == {"32", "1000"}


def test_cifar10_linear_on_generated_batches(tmp_path, env):
    out = tmp_path / "out"
    proc = run("cifar10_linear.py", "--quick", "--out", out, env=env)
    assert "generated batches" in proc.stdout and "Gradient check" in proc.stdout
    names = ["cifar10_gradcheck", "cifar10_all", "cifar10_decay", "cifar10_xavier", "cifar10_long",
             "cifar10_combined", "cifar10_multibce", "cifar10_accuracies"]
    check_outputs(out, names, ["cifar10_basic_curves.png", "cifar10_basic_weights.png",
                               "cifar10_multibce_histogram.png"])
    # The gradient check must pass even on tiny data.
    rows = list(csv.reader(open(out / "cifar10_gradcheck.csv")))[1:]
    assert all(float(v) < 1e-4 for row in rows for v in row[1:])


def test_cifar10_linear_with_data_dir(tmp_path, env):
    data = ds.write_fake_cifar10(tmp_path / "cifar", n_per_batch=40)
    proc = run("cifar10_linear.py", "--quick", "--data", data, "--experiments", "decay", env=env)
    assert "generated" not in proc.stdout and "2.2 Step decay" in proc.stdout


def test_mnist_mlp(tmp_path, env, mnist_dir):
    out = tmp_path / "out"
    proc = run("mnist_mlp.py", "--quick", "--data", mnist_dir, "--out", out, env=env)
    assert "| Task1 | Epoch: 2 | Train Loss: " in proc.stdout and "| Task2 | Epoch: 1 |" in proc.stdout
    assert "| Network | Epoch | Batch size | Learning rate | T_ACC | V_ACC |" in proc.stdout
    check_outputs(out, ["mnist_mlp_mnist"], ["mnist_task1.png", "mnist_task2.png"])


def test_mnist_mlp_fashion_uses_same_loader(tmp_path, env, mnist_dir):
    proc = run("mnist_mlp.py", "--quick", "--dataset", "fashion", "--data", mnist_dir, "--tasks", "1",
               "--epochs", "1", env=env)
    assert "fashion: 200 training" in proc.stdout


def test_conv_practice(tmp_path, env, mnist_dir):
    out = tmp_path / "out"
    proc = run("conv_practice.py", "--quick", "--data", mnist_dir, "--out", out, env=env)
    assert "Accuracy_train" in proc.stdout and "Task #1 | Task #2 | Task #3" in proc.stdout
    assert "(3, 1, 1, 2)" in proc.stdout  # Task 3's first kernel: 3 output channels over the 1x2 input
    assert "Strided CNN on MNIST" in proc.stdout and "(16, 6, 6)" in proc.stdout
    check_outputs(out, ["conv_practice_tasks", "conv_practice_strided"], [])


@pytest.mark.parametrize("script, args", [("mnist_mlp.py", []), ("mnist_mlp.py", ["--dataset", "fashion"]),
                                          ("cifar10_linear.py", []), ("conv_practice.py", ["--quick"])])
def test_missing_data_exits_2_with_directions(tmp_path, env, script, args):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run(script, "--data", empty, *args, env=env, expect=2)
    assert str(empty) in proc.stderr and "download" in proc.stderr


def test_corrupt_data_exits_2(tmp_path, env, mnist_dir):
    labels = mnist_dir / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:20])
    proc = run("mnist_mlp.py", "--quick", "--data", mnist_dir, env=env, expect=2)
    assert "train-labels-idx1-ubyte.gz" in proc.stderr


def test_table_markdown_and_csv():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import _common
    finally:
        sys.path.remove(str(SCRIPTS))
    t = _common.Table("T", ["", "", "A", "B"])
    t.add("Accuracy", "Train", "1%", "2%")
    t.add("Accuracy", "Test", "3%", "4%")
    assert t.markdown().splitlines()[2:] == ["|  |  | A | B |", "|---|---|---|---|", "| Accuracy | Train | 1% | 2% |",
                                             "|  | Test | 3% | 4% |"]
    assert t.csv().splitlines() == [",,A,B", "Accuracy,Train,1%,2%", "Accuracy,Test,3%,4%"]
    with pytest.raises(ValueError):
        t.add("too", "short")
    assert [_common.duration(s) for s in (6.4e-5, 0.12459, 1.29, 905.2)] == ["0.06ms", "124.59ms", "1.29s", "15m 5s"]


def test_bench_quick_smoke(env, tmp_path):
    # One small workload of each kind: a training loop and a kernel; the full benchmark never runs here.
    out = tmp_path / "bench.json"
    for only in ("000 model 1", "conv2d fwd+bwd (64, 1"):
        run("bench.py", "--quick", "--repeats", "1", "--only", only, "--json", out, env=env)
        results = json.loads(out.read_text())["results"]
        assert results and all("error" not in r for r in results), results
        assert results[0]["contender"].startswith("pydl") and results[0]["median_s"] > 0
