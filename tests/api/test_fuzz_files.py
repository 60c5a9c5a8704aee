"""Property-based fuzzing of the three file loaders (issue 11): IDX (``read_idx``), CIFAR-10 batches
(``load_cifar10_batch``) and networks (``pydl.load``).

Hypothesis draws cases: a valid base file plus structured edits (IDX header fields, CIFAR dict entries
and pickle protocols, .npz architecture fields, parameter members of other dtypes/shapes, zip bombs)
and byte-level mutations (bit flips, overwrites, truncation, insertion, deletion, duplication). A worker
subprocess builds each file and loads it: the only acceptable outcomes are a ``ValueError`` that names
the file, or a successful load whose result is usable (arrays of the documented dtype and shape; a
network whose ``predict`` returns or raises ``ValueError``, or ``MemoryError`` for a genuinely huge
output such as padding 65535). A crash (the worker dies), a hang (no
answer within the timeout), any other exception, or a load slower than ``CASE_SECONDS`` fails the
test with the batch of cases that caused it; the worker runs under a 3 GiB address-space limit, so a
runaway allocation shows up as a ``MemoryError`` failure rather than swapping.

Budgets: the default run fuzzes ~600 cases per loader (a few seconds each). The long budget,
``pytest -m fuzz tests/api/test_fuzz_files.py`` (``PYDL_FUZZ_CASES`` cases per loader, default 40,000), prints
the counts by outcome and writes them to ``$PYDL_FUZZ_REPORT`` when set.
"""
import json
import os
import select
import subprocess
import sys
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
CASE_SECONDS = 2.0        # CPU seconds: a single file must be refused (or loaded) within this
BATCH_TIMEOUT = 60.0      # no answer for a whole batch within this: a hang
ADDRESS_SPACE = 3 << 30   # the worker's RLIMIT_AS

# ---- strategies (parent side) ---------------------------------------------------------------------

INTS = [0, 1, 2, 3, 7, -1, -2, 255, 256, 3072, 65535, 2**16, 2**24, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**62,
        2**63 - 1, 2**63, 2**64, 10**7, 10**8]
VALUES = INTS + [0.5, 1.5, -0.0, 1e308, 1e-308, "x", "", "relu", "tanh", None, True, False, [], {}, [1], [2, 2],
                 [1, 2, 3], [2**62, 2**62], [0, 0], [-1, 1], {"a": 1}, "NaN", [[1]]]

position = st.one_of(st.integers(0, 96), st.integers(0, 1 << 16))
byte_op = st.one_of(
    st.tuples(st.just("flip"), position, st.integers(0, 7)),
    st.tuples(st.just("set"), position, st.integers(0, 255)),
    st.tuples(st.just("trunc"), position),
    st.tuples(st.just("insert"), position, st.lists(st.integers(0, 255), min_size=1, max_size=16)),
    st.tuples(st.just("delete"), position, st.integers(1, 64)),
    st.tuples(st.just("dup"), position, st.integers(1, 256)),
)
value = st.sampled_from(VALUES) | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)

idx_pre = st.one_of(
    st.tuples(st.just("dim"), st.integers(0, 4), st.sampled_from(INTS) | st.integers(0, 2**32 - 1)),
    st.tuples(st.just("type"), st.integers(0, 255)),
    st.tuples(st.just("ndim"), st.integers(0, 255)),
    byte_op,
)
# Pickle fragments spliced into a valid batch: the globals, memo and stack opcodes the hostile pickles use.
PICKLE_SNIPPETS = [b"cnumpy\nndarray\n", b"c_codecs\nencode\n", b"cnumpy\ndtype\n", b"cos\nsystem\n",
                   b"cnumpy.core.multiarray\n_reconstruct\n", b"r\xff\xff\xff\xff", b"j\xff\xff\xff\x7f", b"h\x00",
                   b"q\x00", b"\x94", b"2" * 64, b"R", b"b", b"(", b"t", b"e", b"u", b"l", b"0", b"\x85", b"\x87",
                   b"J\x00\x00\x00\x08\x85", b"U\x01O", b"U\x02O8", b"X\x05\x00\x00\x00rot13", b"\x89", b"N",
                   b"(K\x01J\x00\x00\x00\x08\x85cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R\x89U\x03abctb",
                   b"\x8a\x09" + b"\xff" * 9, b"\x95\xff\xff\xff\xff\x00\x00\x00\x00", b"\x97", b"P1\n", b"\x82\x01"]

cifar_pre = st.one_of(
    st.tuples(st.just("snippet"), position, st.lists(st.integers(0, len(PICKLE_SNIPPETS) - 1), min_size=1, max_size=4)),
    st.tuples(st.just("labels"), st.integers(0, 15)),
    st.tuples(st.just("data"), st.integers(0, 12)),
    st.tuples(st.just("drop"), st.sampled_from(["data", "labels", "batch_label", "filenames"])),
    st.tuples(st.just("extra"), value),
    st.tuples(st.just("protocol"), st.integers(0, 5)),
    st.tuples(st.just("py2"), st.booleans()),
    byte_op,
)
npz_pre = st.one_of(
    st.tuples(st.just("cfg"), st.integers(0, 7), st.sampled_from(
        ["in_features", "out_features", "in_channels", "out_channels", "kernel_size", "stride", "padding", "bias",
         "activation", "init", "clip", "extra"]), value),
    st.tuples(st.just("top"), st.sampled_from(["format", "version", "dtype", "input_shape", "l2", "backend", "seed",
                                               "loss", "optimizer", "layers"]), value),
    st.tuples(st.just("class"), st.integers(0, 7), st.sampled_from(
        ["Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "ReLU", "Sigmoid", "Tanh", "Softmax", "Nope"])),
    st.tuples(st.just("del_layer"), st.integers(0, 7)),
    st.tuples(st.just("dup_layer"), st.integers(0, 7), st.integers(1, 3)),
    st.tuples(st.just("replace"), st.integers(0, 7), st.integers(0, 14)),
    st.tuples(st.just("drop"), st.integers(0, 7)),
    st.tuples(st.just("bomb"), st.integers(1, 16)),
    st.tuples(st.just("compress"), st.booleans()),
    st.tuples(st.just("arch_text"), st.integers(0, 5)),
)


def cases(kind, pre, n_bases):
    return st.fixed_dictionaries({"kind": st.just(kind), "base": st.integers(0, n_bases - 1),
                                  "pre": st.lists(pre, max_size=4), "post": st.lists(byte_op, max_size=3)})


STRATEGIES = {"idx": cases("idx", idx_pre, 5), "cifar": cases("cifar", cifar_pre, 4), "npz": cases("npz", npz_pre, 3)}

# ---- the worker (child side) ----------------------------------------------------------------------


def _apply_byte_op(data, op):
    data = bytearray(data)
    name, pos = op[0], op[1]
    n = len(data)
    if name == "flip" and n:
        data[pos % n] ^= 1 << op[2]
    elif name == "set" and n:
        data[pos % n] = op[2]
    elif name == "trunc":
        del data[pos % (n + 1):]
    elif name == "insert":
        p = pos % (n + 1)
        data[p:p] = bytes(op[2])
    elif name == "delete" and n:
        p = pos % n
        del data[p:p + op[2]]
    elif name == "dup" and n:
        p = pos % n
        data[p:p] = data[p:p + op[2]]
    return bytes(data)


class _Builder:
    def __init__(self):
        import numpy as np

        import test_hostile_files as H
        self.np, self.H = np, H
        rng = np.random.default_rng(0)
        self.idx_bases = [(rng.integers(0, 256, (5, 4, 3)).astype(np.uint8), False),
                          (rng.integers(0, 256, (5, 4, 3)).astype(np.uint8), True),
                          ((rng.standard_normal((3, 2)) * 100).astype(np.int16), True),
                          (rng.standard_normal(4), False),
                          (np.arange(10, dtype=np.uint8) % 10, True)]
        self.cifar_data = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
        self.npz_bases = [self._net_members(i) for i in range(3)]

    def _net_members(self, i):
        import pydl
        from pydl import nn, optim
        from pydl.serialization import to_arrays
        if i == 0:
            net = pydl.Network([nn.Dense(2, 3, activation="tanh"), nn.Dense(3, 1), nn.Sigmoid(clip=1e-6)],
                               loss="bce", optimizer=optim.Adam(lr=0.01), l2=0.001, seed=0)
        elif i == 1:
            net = pydl.Network([nn.Conv2D(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2D(2), nn.Flatten(),
                                nn.Dense(2, 3)], loss="cross_entropy", dtype="float64", seed=1,
                               input_shape=(1, 4, 4))
        else:
            net = pydl.Network([nn.Conv2D(1, 2, (2, 3), padding=(1, 0)), nn.MaxPool2D(2, stride=1), nn.Flatten(),
                                nn.Dense(8, 2), nn.Softmax()], optimizer=optim.SGD(lr=0.1, momentum=0.9), seed=2)
        return {k: self.np.array(v) for k, v in to_arrays(net).items()}

    # -- IDX
    def idx(self, case):
        import gzip
        import struct
        array, gz = self.idx_bases[case["base"]]
        data = bytearray(self.H.idx_bytes(array))
        for op in case["pre"]:
            if op[0] == "dim":
                if 4 + 4 * op[1] + 4 <= len(data):
                    data[4 + 4 * op[1]:8 + 4 * op[1]] = struct.pack(">I", op[2] % 2**32)
            elif op[0] in ("type", "ndim"):
                if len(data) >= 4:
                    data[2 if op[0] == "type" else 3] = op[1]
            else:
                data = bytearray(_apply_byte_op(data, op))
        return gzip.compress(bytes(data), mtime=0) if gz else bytes(data)

    # -- CIFAR
    def cifar(self, case):
        import pickle
        np = self.np
        batch = {b"batch_label": b"training batch 1 of 5", b"labels": [3, 9], b"data": self.cifar_data.copy(),
                 b"filenames": [b"a.png", b"b.png"]}
        protocol, py2 = [2, 4, 5, 2][case["base"]], case["base"] == 3
        labels_pool = [[0, 10], [-1, 0], [True, 1], [1.0, 2.0], ["1", "2"], None, [[1], [2]], [1], [1, 2, 3],
                       [2**70, 0], np.array([1, 2]), np.array([1.0, 2.0]), np.array([1, 2], ">i8"),
                       np.array([[1, 2]]), list(range(3000)), (1, 2)]
        data_pool = [self.cifar_data.astype(np.int16), self.cifar_data[:, :100], self.cifar_data.T.copy(),
                     np.asfortranarray(self.cifar_data), self.cifar_data.reshape(2, 3, 1024),
                     self.cifar_data.astype(">u2"), self.cifar_data.astype(np.float32), self.cifar_data.tolist()[:1],
                     self.cifar_data.tobytes(), None, np.zeros((0, 3072), np.uint8), np.bool_(True),
                     self.cifar_data.view(np.int8)]
        pre_bytes = []
        for op in case["pre"]:
            if op[0] == "labels":
                batch[b"labels"] = labels_pool[op[1]]
            elif op[0] == "data":
                batch[b"data"] = data_pool[op[1]]
            elif op[0] == "drop":
                batch.pop(op[1].encode(), None)
            elif op[0] == "extra":
                batch[b"extra"] = op[1]
            elif op[0] == "protocol":
                protocol = op[1]
            elif op[0] == "py2":
                py2 = op[1]
            else:
                pre_bytes.append(op)
        data, labels = batch.get(b"data"), batch.get(b"labels")
        if (py2 and isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072
                and isinstance(labels, list) and all(type(v) is int and 0 <= v < 256 for v in labels)):
            raw = self.H.py2_cifar_batch(data, labels)
        else:
            raw = pickle.dumps(batch, protocol=protocol)
        for op in pre_bytes:
            if op[0] == "snippet":
                raw = _apply_byte_op(raw, ("insert", op[1], list(b"".join(PICKLE_SNIPPETS[i] for i in op[2]))))
            else:
                raw = _apply_byte_op(raw, op)
        return raw

    # -- npz
    def npz(self, case):
        import copy
        import io
        import zipfile
        np = self.np
        members = dict(self.npz_bases[case["base"]])
        arch = json.loads(str(members["__pydl_architecture__"]))
        layers = arch["layers"]
        compress, bombs, text_edit, raw_ops = False, [], None, []
        variants = [lambda a: a.astype(np.complex64), lambda a: a.astype(np.int32), lambda a: a.astype(object),
                    lambda a: a.astype(np.float16), lambda a: a.reshape(-1), lambda a: a.T.copy(),
                    lambda a: np.asfortranarray(a), lambda a: np.full_like(a, np.nan),
                    lambda a: np.full_like(a, np.inf), lambda a: np.full_like(a, 3e38), lambda a: np.zeros(0),
                    lambda a: np.array(1.0), lambda a: a.astype(bool), lambda a: a.astype(">f8"),
                    lambda a: np.zeros(a.shape + (1,))]
        for op in case["pre"]:
            name = op[0]
            if name == "cfg" and layers and isinstance(layers[op[1] % len(layers)], dict):
                cfg = layers[op[1] % len(layers)].setdefault("config", {})
                if isinstance(cfg, dict):
                    cfg[op[2]] = op[3]
            elif name == "top":
                arch[op[1]] = op[2]
                if op[1] == "layers":
                    layers = []
            elif name == "class" and layers:
                layers[op[1] % len(layers)]["class"] = op[2]
            elif name == "del_layer" and layers:
                del layers[op[1] % len(layers)]
            elif name == "dup_layer" and layers:
                i = op[1] % len(layers)
                layers[i:i] = [copy.deepcopy(layers[i])] * op[2]
            elif name == "replace":
                keys = sorted(k for k in members if k != "__pydl_architecture__")
                if keys:
                    k = keys[op[1] % len(keys)]
                    members[k] = variants[op[2] % len(variants)](members[k])
            elif name == "drop":
                keys = sorted(members)
                members.pop(keys[op[1] % len(keys)])
            elif name == "bomb":
                bombs.append(op[1])
            elif name == "compress":
                compress = op[1]
            elif name == "arch_text":
                text_edit = op[1]
            else:
                raw_ops.append(op)
        if "__pydl_architecture__" in members:
            text = json.dumps(arch)
            if text_edit == 1:
                text = text[: len(text) // 2]
            elif text_edit == 2:
                text = text.replace("1", "1e400", 1)
            elif text_edit == 3:
                text = "[" * 50000 + text + "]" * 50000
            elif text_edit == 4:
                text = text.replace("false", "NaN", 1).replace("null", "Infinity", 1)
            members["__pydl_architecture__"] = np.array(text)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for k, a in members.items():
                m = io.BytesIO()
                np.lib.format.write_array(m, np.asanyarray(a), allow_pickle=True)
                z.writestr(zipfile.ZipInfo(k + ".npy"), m.getvalue(),
                           compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
            for i, size in enumerate(bombs):
                with z.open(self.H.deflated(f"bomb{i}.npy"), "w", force_zip64=True) as w:
                    zeros = bytes(1 << 20)
                    for _ in range(size):
                        w.write(zeros)
        raw = buf.getvalue()
        for op in raw_ops:
            raw = _apply_byte_op(raw, op)
        return raw


def _sample_input(net):
    import numpy as np
    shape = net.input_shape
    first = net.layers[0]
    if shape is None:
        if hasattr(first, "in_features"):
            shape = (first.in_features,)
        elif hasattr(first, "in_channels"):
            shape = (first.in_channels, 6, 6)
        else:
            shape = (1, 6, 6)
    return np.ones((2,) + tuple(shape), dtype=net.dtype)


def _run_case(builder, case, folder):
    """Outcome class of one case: 'loaded', 'loaded:predict ValueError', 'ValueError', or a failure."""
    import numpy as np

    import pydl
    import pydl.datasets as ds
    kind = case["kind"]
    path = os.path.join(folder, {"idx": "t-images-idx3-ubyte", "cifar": "data_batch_1", "npz": "net.npz"}[kind])
    if os.path.exists(path):
        os.unlink(path)
    raw = builder.idx(case) if kind == "idx" else builder.cifar(case) if kind == "cifar" else builder.npz(case)
    for op in case["post"]:
        raw = _apply_byte_op(raw, op)
    with open(path, "wb") as f:
        f.write(raw)
    t0 = time.process_time()  # CPU time: a busy shared machine must not turn into "slow" failures
    seconds = None
    try:
        if kind == "idx":
            a = ds.read_idx(path)
            ok = isinstance(a, np.ndarray) and a.dtype.isnative and a.flags.c_contiguous
            outcome = "loaded" if ok else "FAIL:bad array"
        elif kind == "cifar":
            x, y = ds.load_cifar10_batch(path)
            ok = (x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == 3072 and y.dtype == np.int64
                  and y.shape == (len(x),) and (y.size == 0 or (y.min() >= 0 and y.max() <= 9)))
            outcome = "loaded" if ok else "FAIL:bad batch"
        else:
            net = pydl.load(path)
            seconds = time.process_time() - t0  # the load is timed; predict may legitimately be slow
            try:
                out = net.predict_proba(_sample_input(net))
                outcome = "loaded" if isinstance(out, np.ndarray) else "FAIL:predict output"
            except ValueError:
                outcome = "loaded:predict ValueError"
            except MemoryError:  # e.g. padding 65535 asks for a 128 GiB output: huge, but not a crash
                outcome = "loaded:predict MemoryError"
    except ValueError as e:
        outcome = "ValueError" if path in str(e) else "FAIL:ValueError without the file name"
    except Exception as e:  # noqa: BLE001 -- any other type is exactly what the fuzzer looks for
        outcome = f"FAIL:{type(e).__name__}: {str(e)[:200]}"
    seconds = seconds if seconds is not None else time.process_time() - t0
    if seconds > CASE_SECONDS and not outcome.startswith("FAIL"):
        outcome = f"FAIL:slow ({seconds:.1f} s)"
    return outcome


def _worker():
    import resource
    import tempfile
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    sys.path.insert(0, HERE)
    builder = _Builder()
    folder = tempfile.mkdtemp(prefix="pydl-fuzz-")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        batch = json.loads(line)
        results = [_run_case(builder, case, folder) for case in batch]
        sys.stdout.write(json.dumps(results) + "\n")
        sys.stdout.flush()


# ---- the parent side -------------------------------------------------------------------------------

class Worker:
    """A loader subprocess fed batches of cases; restarted after a crash or a hang."""

    def __init__(self):
        self.proc = None

    def _start(self):
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if self._readline(120) != "ready":
            raise RuntimeError(f"fuzz worker did not start: {self._stop()}")

    def _readline(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return line.strip() if line else ""

    def _stop(self):
        if self.proc is None:
            return ""
        self.proc.kill()
        _, err = self.proc.communicate()
        status, self.proc = self.proc.returncode, None
        return f"exit status {status}; stderr tail: {err[-1500:]}"

    def run(self, batch):
        """Outcome per case, or ['CRASH: ...'] / ['HANG'] for the whole batch."""
        if self.proc is None:
            self._start()
        self.proc.stdin.write(json.dumps(batch) + "\n")
        self.proc.stdin.flush()
        line = self._readline(BATCH_TIMEOUT)
        if line is None:
            self._stop()
            return ["HANG"]
        if not line:
            return [f"CRASH: {self._stop()}"]
        return json.loads(line)

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(30)
            self.proc = None


def fuzz(kind, n_batches, batch_size, counts, derandomize=True):
    worker = Worker()
    failures = []

    @settings(max_examples=n_batches, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(STRATEGIES[kind], min_size=batch_size, max_size=batch_size))
    def check(batch):
        outcomes = worker.run(batch)
        counts.update(outcomes)
        bad = [(o, c) for o, c in zip(outcomes, batch) if o.startswith(("FAIL", "CRASH", "HANG"))]
        if outcomes and outcomes[0].startswith(("CRASH", "HANG")):
            bad = [(outcomes[0], batch)]
        if bad:
            failures.append(bad[0])
        assert not bad, f"{kind}: {bad[0][0]}\ncase: {json.dumps(bad[0][1], default=str)[:3000]}"

    try:
        check()
    finally:
        worker.close()
    return failures


@pytest.mark.parametrize("kind", ["idx", "cifar", "npz"])
def test_fuzz_loaders_short_budget(kind):
    counts = Counter()
    fuzz(kind, n_batches=15, batch_size=40, counts=counts)
    assert sum(counts.values()) >= 600
    assert counts["ValueError"] > 0  # the mutations do reach the checks


@pytest.mark.fuzz
@pytest.mark.parametrize("kind", ["idx", "cifar", "npz"])
def test_fuzz_loaders_long_budget(kind, request):
    if "fuzz" not in (request.config.getoption("markexpr") or "") and "PYDL_FUZZ_CASES" not in os.environ:
        pytest.skip("the long fuzz budget runs with pytest -m fuzz (or PYDL_FUZZ_CASES=N)")
    total = int(os.environ.get("PYDL_FUZZ_CASES", "40000"))
    batch = 100
    counts = Counter()
    t0 = time.perf_counter()
    try:
        fuzz(kind, n_batches=-(-total // batch), batch_size=batch, counts=counts, derandomize=False)
    finally:
        summary = {"kind": kind, "cases": sum(counts.values()), "seconds": round(time.perf_counter() - t0, 1),
                   "outcomes": dict(counts.most_common())}
        print(json.dumps(summary))
        if os.environ.get("PYDL_FUZZ_REPORT"):
            with open(os.environ["PYDL_FUZZ_REPORT"], "a") as f:
                f.write(json.dumps(summary) + "\n")
    assert sum(counts.values()) >= total


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _worker()
