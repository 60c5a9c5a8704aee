"""Every report script end to end in --quick mode, on generated data in tmp_path (never the real datasets)."""
import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import pydl
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


def import_script(name):
    """A script as a module (scripts import their helpers as plain ``_common``)."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


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
    for option in ("--seed", "--runs", "--epochs", "--backend", "--out", "--quick", "--workers", "--scheduler"):
        assert option in proc.stdout


def test_practice3(tmp_path, env):
    out = tmp_path / "out"
    proc = run("practice3.py", "--quick", "--out", out, env=env)
    for row in ("Accuracy | Train Set", "| Test Set", "Loss | Train Set", "Elapsed Time | Training", "| Inference"):
        assert row in proc.stdout
    assert "Model #1 | Model #2 | Model #3" in proc.stdout
    check_outputs(out, ["practice3_000"], [f"boundary_Model{i}.png" for i in (1, 2, 3)] + ["practice3_000_curves.png"])
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
    check_outputs(out, [f"practice4_table{t}" for t in (1, 2, 3, 4)],
                  [f"practice4_table{t}_curves.png" for t in (1, 2, 3, 4)] +
                  [f"practice4_table{t}_time.png" for t in (2, 3, 4)])
    data = json.loads((out / "practice4.json").read_text())
    assert set(data["mean"]["table4"]) == {"32", "1000"}


def _accuracies_and_losses(stdout):
    return [line for line in stdout.splitlines() if line.startswith(("| Accuracy", "| Loss", "|  | Test |"))
            and "ms" not in line]


@pytest.mark.parametrize("script", ["practice3.py", "practice4.py"])
def test_runs_on_worker_processes_give_the_same_tables(script, env):
    one = run(script, "--quick", "--workers", "1", env=env)
    two = run(script, "--quick", "--workers", "2", env=env)
    assert _accuracies_and_losses(one.stdout) and _accuracies_and_losses(one.stdout) == _accuracies_and_losses(two.stdout)


def test_cifar10_linear_on_generated_batches(tmp_path, env):
    out = tmp_path / "out"
    proc = run("cifar10_linear.py", "--quick", "--out", out, env=env)
    assert "generated batches" in proc.stdout and "Gradient check" in proc.stdout
    sections = ["basic", "all", "decay", "xavier", "long", "combined", "multibce", "augment"]
    names = ["cifar10_settings", "cifar10_gradcheck", "cifar10_accuracies"] + [f"cifar10_{s}" for s in sections[1:]]
    check_outputs(out, names, [f"cifar10_{s}_{kind}.png" for s in sections for kind in ("curves", "weights",
                                                                                         "histogram")])
    # The gradient check must pass even on tiny data.
    rows = _csv_rows(out / "cifar10_gradcheck.csv")[1:]
    assert all(float(v) < 1e-4 for row in rows for v in row[1:])
    # --quick titles say what ran; the settings table marks what differs from the report.
    assert "2.2 Step decay (η 0.001 × 0.95 per epoch) [--quick: 2 epochs (report 40), 60 training images of " \
           "generated data]" in proc.stdout
    settings = {row[0]: row for row in _csv_rows(out / "cifar10_settings.csv")}
    assert settings["2.5 Combination"][1:] == ["280 / 20 / 60", "Xavier (Glorot normal)", "softmax + cross-entropy",
                                               "0.0005", "0.99", "1", "100", "3 (report 400)", "0.0005, 1", "none"]
    assert settings["2.3 Xavier initialisation"][5] == "0.95"
    assert settings["3 Sigmoid + multiple binary cross-entropy"][-2] == "0.01, 0.1"
    assert settings["Bonus: data augmentation (flip + translation)"][-1] == "flip + translation ±3 px"
    # Progress: every section announces itself and its time.
    assert proc.stdout.count("▸ ") == 8 and len(re.findall(r"^  .+ done in ", proc.stdout, re.M)) == 8


def test_cifar10_linear_with_data_dir(tmp_path, env):
    data = ds.write_fake_cifar10(tmp_path / "cifar", n_per_batch=40)
    proc = run("cifar10_linear.py", "--quick", "--data", data, "--experiments", "decay", env=env)
    assert "generated" not in proc.stdout and "2.2 Step decay" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_cifar10_linear_peak_rss_on_full_size_data(tmp_path, env):
    """Issue 14: on the full data set (50000 + 10000 images in the official format) the script's peak
    resident size stays under 0.8 GB (1.19 GB before the loaders read each file once into one array)."""
    from pydl.datasets.cifar import TEST_BATCH, TRAIN_BATCHES, _Py2Pickler
    data = tmp_path / "cifar"
    data.mkdir()
    rng = np.random.default_rng(0)  # uniform pixels: write_fake_cifar10's class prototypes take seconds more
    for name in TRAIN_BATCHES + (TEST_BATCH,):
        batch = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, 10000).tolist(),
                 b"data": rng.integers(0, 256, (10000, 3072), dtype=np.uint8),
                 b"filenames": [f"image_{i:05d}.png".encode() for i in range(10000)]}
        with open(data / name, "wb") as f:
            _Py2Pickler(f).dump(batch)
    argv = [str(SCRIPTS / "cifar10_linear.py"), "--data", str(data), "--epochs", "1", "--long-epochs", "1",
            "--experiments", "all,augment"]
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so it would count this (forked) process's own.
    code = ("import runpy, sys; sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[2:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__'); "
            "print(*(line for line in open('/proc/self/status') if line.startswith('VmHWM')))")
    # From outside the checkout: `python -c` puts the current folder first, whose pydl/ would shadow the
    # installed package.
    proc = subprocess.run([sys.executable, "-c", code, str(SCRIPTS), *argv], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", proc.stdout).group(1)) * 1024
    assert peak <= 0.8e9, f"peak RSS {peak / 1e9:.2f} GB"


def test_cifar10_linear_runs_are_averaged(tmp_path, env):
    out = tmp_path / "out"
    run("cifar10_linear.py", "--quick", "--runs", "2", "--experiments", "decay", "--out", out, env=env)
    runs = json.loads((out / "cifar10_linear.json").read_text())["runs"]
    table = {row[0]: row for row in _csv_rows(out / "cifar10_decay.csv")}
    for column, name in ((1, "basic"), (2, "decay")):
        results = runs[name]["results"]
        assert len(results) == 2 and results[0]["test_cost"] != results[1]["test_cost"]  # seeds seed, seed + 1
        for label, key in (("Test cost", "test_cost"), ("Train cost", "train_cost")):
            values = [r[key] for r in results]
            assert table[label][column] == f"{np.mean(values):.6f} ± {np.std(values):.6f}"


CIFAR_DEFAULTS = types.SimpleNamespace(eta=0.001, lam=1.0, batch=100, epochs=40, long_epochs=400, n_val=1000,
                                       backend="cpp")


@pytest.mark.parametrize("section", ["basic", "multibce"])
def test_cifar10_step_is_the_reports_update(section):
    """One mini-batch step of the script's network equals report 002's update in NumPy:
    W <- W - η (X^T (P - Y) / n + 2 λ W), b <- b - η mean(P - Y), P softmax or (multiple BCE) sigmoid,
    the gradient p - y without the 1/K of pydl's class-averaged multi_bce."""
    cifar = import_script("cifar10_linear")
    args = CIFAR_DEFAULTS
    s = cifar.settings(args, section)
    assert (s["eta"], s["lam"]) == (0.001, 1.0)
    n, d = 16, 7
    net = cifar.build(s, args, seed=0, n_in=d, dtype="float64")
    rng = np.random.default_rng(3)
    w0, b0 = rng.normal(0, 0.5, (d, 10)), rng.normal(0, 0.1, 10)
    net.layers[0].params["W"][...] = w0
    net.layers[0].params["b"][...] = b0
    x, y = rng.standard_normal((n, d)), rng.integers(0, 10, n)
    net.fit(x, y, epochs=1, batch_size=n, shuffle=False, verbose=0)

    scores = x @ w0 + b0
    if section == "multibce":
        p = 1 / (1 + np.exp(-scores))
    else:
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
    g = p - np.eye(10)[y]
    w1 = w0 - 0.001 * (x.T @ g / n + 2 * 1.0 * w0)
    b1 = b0 - 0.001 * g.mean(axis=0)
    np.testing.assert_allclose(net.layers[0].params["W"], w1, rtol=0, atol=1e-13)
    np.testing.assert_allclose(net.layers[0].params["b"], b1, rtol=0, atol=1e-13)


def test_cifar10_help_lists_every_section_and_the_scaling(env):
    proc = run("cifar10_linear.py", "--help", env=env)
    text = " ".join(proc.stdout.split())
    assert "lr = K·η and l2 = λ/K" in text
    assert ("2.3 Xavier initialisation: train data_batch_1 (10000) / val data_batch_2 (10000) / test test_batch "
            "(10000); init Xavier (Glorot normal), b = 0; softmax + cross-entropy; η 0.001 × 0.95 per epoch; λ 1; "
            "n_batch 100; 40 epochs") in text
    assert "2.5 Combination: train data_batch_1-5 minus the last 1000 (49000)" in text
    assert "η 0.0005 × 0.99 per epoch; λ 1; n_batch 100; 400 epochs" in text


def test_mnist_mlp(tmp_path, env, mnist_dir):
    out = tmp_path / "out"
    proc = run("mnist_mlp.py", "--quick", "--data", mnist_dir, "--out", out, env=env)
    assert "| Task1 | Epoch: 2 | Train Loss: " in proc.stdout and "| Task2 | Epoch: 1 |" in proc.stdout
    assert "| Network | Epoch | Batch size | Learning rate | T_ACC | V_ACC |" in proc.stdout
    assert "T_ACC: running mean over the last epoch's batches" in proc.stdout
    pngs = ["mnist_task1.png", "mnist_task2.png"]
    if importlib.util.find_spec("torch") is not None:
        assert "| Task2 (PyTorch) | Epoch: 2 | Train Loss: " in proc.stdout and "| Time: " in proc.stdout
        pngs.append("mnist_task2_pytorch.png")
    check_outputs(out, ["mnist_mlp_mnist"], pngs)


def test_mnist_mlp_torch_starts_from_the_pydl_weights():
    torch = pytest.importorskip("torch")
    mnist = import_script("mnist_mlp")
    net = mnist.build("Adam", 0.001, "cpp", seed=5)
    x = np.random.default_rng(0).random((9, 784), dtype=np.float32)
    with torch.no_grad():
        logits = mnist.torch_model(torch, net)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(logits, net(x), rtol=1e-4, atol=1e-5)


def test_mnist_mlp_fashion_uses_same_loader_and_averages_runs(tmp_path, env, mnist_dir):
    out = tmp_path / "out"
    proc = run("mnist_mlp.py", "--quick", "--dataset", "fashion", "--data", mnist_dir, "--tasks", "1",
               "--epochs", "1", "--runs", "2", "--out", out, env=env)
    assert "fashion: 200 training" in proc.stdout
    assert "mean ± std of 2 runs, seeds 0..1" in proc.stdout and "Task1: run 2/2 (seed 1)" in proc.stdout
    runs = json.loads((out / "mnist_mlp_fashion.json").read_text())["history"]["Task1"]
    assert len(runs) == 2 and runs[0]["loss"] != runs[1]["loss"]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| Task1: 784-"))
    t_acc = [100 * r["accuracy"][-1] for r in runs]
    assert f"{np.mean(t_acc):.4f} ± {np.std(t_acc):.4f}" in row


def test_conv_practice(tmp_path, env, mnist_dir):
    out = tmp_path / "out"
    proc = run("conv_practice.py", "--quick", "--data", mnist_dir, "--out", out, env=env)
    assert "Accuracy_train" in proc.stdout and "Task #1 | Task #2 | Task #3" in proc.stdout
    assert "(3, 1, 1, 2)" in proc.stdout  # Task 3's first kernel: 3 output channels over the 1x2 input
    assert "Strided CNN on MNIST" in proc.stdout and "(16, 6, 6)" in proc.stdout
    check_outputs(out, ["conv_practice_tasks", "conv_practice_strided"],
                  ["conv_practice_tasks_curves.png", "conv_practice_tasks_time.png", "conv_practice_strided_curves.png"]
                  + [f"conv_boundary_Task{i}.png" for i in (1, 2, 3)])


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


def test_bench_help_is_whole(env):
    proc = run("bench.py", "--help", env=env)
    assert "processes on a shared machine slow every contender." in proc.stdout


def test_bench_conv_quick(env):
    proc = run("bench_conv.py", "--quick", env=env)
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| (") or line.startswith("|  | fwd+bwd")]
    assert len(rows) == 6, proc.stdout


def test_plots_have_integer_epoch_ticks_and_a_probability_colorbar(tmp_path):
    pytest.importorskip("matplotlib")
    common = import_script("_common")
    out = common.Output(tmp_path)
    figures = {}
    out.figure = lambda name, fig: figures.setdefault(name, fig)
    common.plot_panels(out, "curves", "t", [("loss", [("a", [3.0, 2.0, 1.5], {})])])
    ax = figures["curves"].axes[0]
    figures["curves"].canvas.draw()
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)
    x = np.random.default_rng(0).uniform(-2, 2, (50, 2))
    y = (x[:, 0] ** 2 > x[:, 1]).astype(float)
    common.plot_boundary(out, "boundary", "t", lambda pts: 1 / (1 + np.exp(pts[:, 1] - pts[:, 0] ** 2)), x, y)
    assert "P(y=1)" in [a.get_ylabel() for a in figures["boundary"].axes]


def test_bench_quick_smoke(env, tmp_path):
    # One small workload of each kind: a training loop and a kernel; the full benchmark never runs here.
    out = tmp_path / "bench.json"
    for only in ("000 model 1", "conv2d fwd+bwd (64, 1", "max_pool2d"):
        run("bench.py", "--quick", "--repeats", "1", "--only", only, "--json", out, env=env)
        results = json.loads(out.read_text())["results"]
        assert results and all("error" not in r for r in results), results
        assert results[0]["contender"].startswith("pydl") and results[0]["median_s"] > 0


def test_bench_gpu_runs_its_workloads_on_the_simulator(env):
    # scripts/bench_gpu.py is for a GPU machine (scripts/gpu_check.sh); here its code runs on tiny sizes.
    proc = run("bench_gpu.py", "--device", "cuda-sim", "--quick", "--repeats", "1", "--epochs", "1", env=env)
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "ms" in line]
    assert [r.split(" | ")[0] for r in rows] == ["| MLP epoch, batch 100", "| CNN epoch, batch 64", "| sigmoid float32",
                                                 "| GEMM float32"]


def test_bench_gpu_without_a_gpu_says_why(env):
    if pydl.cuda.is_available():
        pytest.skip("this machine has a usable GPU")
    proc = run("bench_gpu.py", "--device", "cuda", env=env, expect=1)
    assert "device 'cuda' is not available here" in proc.stderr
