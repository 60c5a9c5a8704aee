"""CIFAR-10 from the official python batches, and the preprocessing of the DD2424 assignment (seed 002)."""
import io
import os
import pickle
import pickletools
import struct
from collections import namedtuple
from functools import partial
from pathlib import Path

import numpy as np

from ._paths import data_roots, not_found

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# Limits of the restricted unpickler. An official batch is ~30 MB with ~30,000 opcodes (10,000 labels and
# 10,000 file names; ~90,000 when re-pickled by Python 3 with protocol 2); the opcode limit keeps a
# hostile pickle under ~100 MB and its pre-scan well under 1 s.
_MAX_FILE_BYTES = 1 << 28  # 256 MiB: an official batch is 31 MB (46 MB re-pickled by Python 3)
_MAX_OPCODES = 250_000
_MAX_MEMO_INDEX = 250_000
_MAX_NDIM = 8
# Opcodes a batch pickle (protocol 0-5, Python 2 or 3, NumPy 1 or 2) never uses: refused outright, so the
# only way to call anything is through the globals _ArrayUnpickler.find_class allows.
_REFUSED_OPCODES = {"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX",
                    "NEXT_BUFFER", "READONLY_BUFFER"}
_ARRAY_DTYPES = {np.dtype(c) for c in ("b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8")}


class _Budget:
    """Bytes the globals may produce in one load: a memoized string encoded or rebuilt into an array
    a million times must not cost a million copies."""

    def __init__(self, limit):
        self.left = limit

    def charge(self, n):
        self.left -= n
        if self.left < 0:
            raise ValueError("the pickle builds more data than the file holds")


def _check_shape(shape):
    if (not isinstance(shape, tuple) or len(shape) > _MAX_NDIM
            or not all(type(d) is int and 0 <= d < 1 << 40 for d in shape)):
        raise ValueError(f"bad array shape {shape!r}")
    count = 1
    for d in shape:
        count *= d
    return count


class _DtypeStub:
    """Stands for ``numpy.dtype(name, align, copy)`` plus its BUILD state: only plain numeric dtypes."""

    def __init__(self, name, align=False, copy=False):
        if isinstance(name, bytes):  # Python 2 pickles read with encoding="bytes"
            name = name.decode("latin1")
        try:
            dt = np.dtype(name) if isinstance(name, str) and len(name) <= 4 else None
        except TypeError:
            dt = None
        # Python 2's NumPy pickled align/copy as the ints 0/1, Python 3's as bools.
        if dt is None or dt not in _ARRAY_DTYPES or align not in (0, 1) or copy not in (0, 1):
            raise ValueError(f"refusing array dtype {name!r}")
        self.dtype = dt

    def __setstate__(self, state):
        # NumPy's dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata]).
        order = state[1] if isinstance(state, tuple) and len(state) in (8, 9) else None
        order = order.decode("latin1") if isinstance(order, bytes) else order  # Python 2: bytes
        if order not in ("<", ">", "|", "=") or any(v is not None for v in state[2:5]):
            raise ValueError(f"refusing dtype state {state!r:.80}")
        if order in "<>":
            self.dtype = self.dtype.newbyteorder(order)


def _as_dtype(d):
    if isinstance(d, _DtypeStub):
        return d.dtype
    raise ValueError(f"expected a numeric dtype, got {type(d).__name__}")


class _ArrayStub:
    """Stands for ``_reconstruct(ndarray, shape, typecode)``; its BUILD state makes the real array,
    checked: plain numeric dtype, at most 8 dimensions, raw bytes exactly the declared size."""

    def __init__(self, budget):
        self.budget = budget
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ValueError("bad ndarray state")
        shape, dtype, fortran, raw = state[-4:]
        count = _check_shape(shape)
        dtype = _as_dtype(dtype)
        if fortran not in (0, 1) or not isinstance(raw, (bytes, bytearray)):
            raise ValueError("bad ndarray state (array data must be raw bytes)")
        if len(raw) != count * dtype.itemsize:
            raise ValueError(f"array data holds {len(raw)} bytes, shape {shape} of {dtype} needs "
                             f"{count * dtype.itemsize}")
        self.budget.charge(len(raw))
        # A read-only view of the unpickled bytes when the byte order is native: no second copy of the
        # pixels (load_cifar10 copies them into its output, load_cifar10_batch makes them writeable).
        self.array = _native(np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C"))


def _native(a):
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


class _NdarrayName:
    """What the global numpy.ndarray resolves to: only a marker for _reconstruct. Returning the real
    class would let a pickle call ndarray((2**27,), object) and allocate gigabytes from a few bytes."""


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays, bytes and builtin containers only; everything else is refused."""

    def __init__(self, file, budget, **kw):
        super().__init__(file, **kw)
        self.budget = budget

    # The globals are plain functions given the budget, not bound methods: a bound method in the memo would
    # make a reference cycle (unpickler -> memo -> method -> unpickler) that keeps the file's bytes and the
    # pixels' bytes alive until the next garbage collection, ~60 MB a batch file.
    @staticmethod
    def _reconstruct(budget, cls, shape, typecode):
        if cls is not _NdarrayName or not isinstance(shape, tuple) or not isinstance(typecode, (bytes, str)):
            raise ValueError("refusing _reconstruct of anything but a plain ndarray")
        return _ArrayStub(budget)

    @staticmethod
    def _frombuffer(budget, buf, dtype, shape, order):
        count = _check_shape(shape)
        dtype = _as_dtype(dtype)
        if not isinstance(buf, (bytes, bytearray)) or order not in ("C", "F"):
            raise ValueError("bad _frombuffer arguments")
        if len(buf) != count * dtype.itemsize:
            raise ValueError(f"array buffer holds {len(buf)} bytes, shape {shape} of {dtype} needs "
                             f"{count * dtype.itemsize}")
        budget.charge(len(buf))
        return _native(np.frombuffer(buf, dtype=dtype).reshape(shape, order=order))

    @staticmethod
    def _encode(budget, obj, encoding="utf-8", errors="strict"):
        # Python 3 pickles bytes for protocol 2 as _codecs.encode(str, "latin1"); nothing else is needed.
        if not isinstance(obj, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
            raise ValueError(f"refusing _codecs.encode with codec {encoding!r:.40}")
        budget.charge(len(obj))
        return obj.encode("latin1")

    def find_class(self, module, name):
        reconstruct, frombuffer = partial(self._reconstruct, self.budget), partial(self._frombuffer, self.budget)
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): reconstruct,
            ("numpy.core.numeric", "_frombuffer"): frombuffer,
            ("numpy._core.numeric", "_frombuffer"): frombuffer,
            ("numpy", "ndarray"): _NdarrayName,
            ("numpy", "dtype"): _DtypeStub,
            ("_codecs", "encode"): partial(self._encode, self.budget),
        }
        try:
            return allowed[(module, name)]
        except (KeyError, TypeError):
            raise pickle.UnpicklingError(f"refusing to load global {module!s:.80}.{name!s:.80}") from None


def _prescan(raw):
    """Walk the opcodes without building anything: refuse unused opcodes, too many of them, and memo
    indices that would make the C unpickler allocate a huge memo table (a 9-byte pickle can ask for 2^32)."""
    ops = 0
    for opcode, arg, _ in pickletools.genops(raw):
        ops += 1
        if ops > _MAX_OPCODES:
            raise ValueError(f"more than {_MAX_OPCODES} pickle opcodes (an official batch has ~30,000)")
        name = opcode.name
        if name in _REFUSED_OPCODES:
            raise ValueError(f"refusing pickle opcode {name}")
        if name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"):
            if not isinstance(arg, int) or not 0 <= arg <= _MAX_MEMO_INDEX:
                raise ValueError(f"pickle memo index {arg!r:.40} out of range")
        elif name == "MEMOIZE" and ops > _MAX_MEMO_INDEX:
            raise ValueError("pickle memo too large")


def _labels_of(y, n):
    if isinstance(y, _ArrayStub):
        y = y.array
    if isinstance(y, np.ndarray):
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            return None
        y = y.astype(np.int64)
        ok = y.size == 0 or (y.min() >= 0 and y.max() <= 9)
    elif isinstance(y, (list, tuple)):
        ok = all(type(v) is int and 0 <= v <= 9 for v in y)
        y = np.array(y, dtype=np.int64) if ok else None
    else:
        return None
    return y if ok and len(y) == n else None


def load_cifar10_batch(file):
    """``(x, y)`` from one CIFAR-10 python batch file: uint8 ``(N, 3072)`` rows (1024 red, 1024 green,
    1024 blue values, each 32x32 row-major) and int64 labels ``(N,)``.

    The pickle is read by a restricted unpickler that only rebuilds plain NumPy arrays, bytes and builtin
    containers, after a scan of its opcodes with limits (count, memo indices), and with the bytes the
    rebuilt arrays may take bounded by the file's size: a tampered file can neither run code nor make
    it allocate much more than its own size. A truncated, foreign or hostile file raises ``ValueError``
    naming it.
    """
    x, y = _read_batch(file)
    x = np.ascontiguousarray(x)
    return (x if x.flags.writeable else x.copy()), y


def _read_batch(file):
    """:func:`load_cifar10_batch` without its final copy: ``x`` may be a read-only view of the bytes the
    file's pixels were unpickled into (one copy of them in memory, not two)."""
    with open(file, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > _MAX_FILE_BYTES:
            raise ValueError(f"{file}: {size} bytes, too large for a CIFAR-10 batch (~30 MB)")
        raw = f.read()
    try:
        _prescan(raw)
        # The official batches were pickled by Python 2: keys and strings come back as bytes.
        batch = _ArrayUnpickler(io.BytesIO(raw), _Budget(2 * len(raw) + (1 << 20)), encoding="bytes").load()
    except RecursionError:
        raise ValueError(f"{file}: not a readable CIFAR-10 batch (nested too deeply)") from None
    except Exception as e:  # noqa: BLE001 -- any failure of a bounded unpickle means a bad file
        raise ValueError(f"{file}: not a readable CIFAR-10 batch ({type(e).__name__}: {str(e)[:200]})") from None
    if type(batch) is not dict or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{file}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    x = batch[b"data"]
    x = x.array if isinstance(x, _ArrayStub) else x
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        shape = getattr(x, "shape", None)
        raise ValueError(f"{file}: b'data' must be uint8 of shape (N, 3072), got "
                         f"{getattr(x, 'dtype', type(x).__name__)} {shape}")
    y = _labels_of(batch[b"labels"], len(x))
    if y is None:
        raise ValueError(f"{file}: b'labels' must be {len(x)} integers in 0..9")
    return x, y


def _find_dir(path):
    if path is not None:
        dirs = [Path(path).expanduser()]
    else:
        # "cifar-10" is where download() puts the files; "cifar-10-batches-py" is the tarball's own folder.
        dirs = [root / sub for root in data_roots() for sub in ("cifar-10", "cifar-10-batches-py")]
    for d in dirs:
        if (d / TEST_BATCH).is_file() or (d / TRAIN_BATCHES[0]).is_file():
            return d
    raise not_found("cifar10", dirs, "data_batch_1..5 / test_batch")


def load_cifar10(path=None, split="train", *, normalize=True, flatten=True, dtype="float32"):
    """CIFAR-10 images and labels as ``(x, y)``.

    ``path``: the folder holding ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` (the
    ``cifar-10-batches-py`` folder of the official tarball). None searches ``$PYDL_DATA/cifar-10``,
    ``$PYDL_DATA/cifar-10-batches-py`` and the same under ``~/.pydl/data``.
    ``split``: ``"train"`` (the 5 training batches, 50000 images), ``"test"`` (10000), a batch number
    1..5, or a sequence of them (concatenated in that order).

    ``x`` is ``(N, 3072)``, or ``(N, 3, 32, 32)`` NCHW with ``flatten=False``; with ``normalize`` it is
    ``dtype`` in [0, 1], otherwise uint8; ``dtype="uint8"`` asks for the raw pixels too (a quarter of
    float32's memory: scale them per batch with :class:`pydl.data.DataLoader`). ``y``: int64 labels
    ``(N,)``, names in :data:`CLASSES`.
    """
    folder = _find_dir(path)
    if split == "train":
        names = TRAIN_BATCHES
    elif split == "test":
        names = (TEST_BATCH,)
    else:
        numbers = [split] if isinstance(split, (int, np.integer)) else list(split)
        if not numbers or any(not 1 <= int(i) <= 5 for i in numbers):
            raise ValueError(f"load_cifar10: split must be 'train', 'test', 1..5 or a list of those, got {split!r}")
        names = tuple(TRAIN_BATCHES[int(i) - 1] for i in numbers)
    x, y, _ = _load_batches(folder, names, dtype if normalize else np.uint8)
    if not flatten:
        x = x.reshape(len(x), 3, 32, 32)
    return x, y


def _load_batches(folder, names, dtype):
    """``(x, y, bounds)``: the batch files ``names`` one after the other in one preallocated array, uint8 or
    (another ``dtype``) scaled to [0, 1]; batch i is rows ``bounds[i]:bounds[i + 1]``. One file's pixels are
    in memory besides the output at a time: no list of batches, no concatenated copy, no whole-set
    conversion (the values are those of ``astype(dtype) / 255``)."""
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise not_found("cifar10", [folder], ", ".join(missing))
    dtype = np.dtype(dtype)
    x = y = None
    bounds = [0]
    for i, name in enumerate(names):
        xb, yb = _read_batch(folder / name)
        start, stop = bounds[-1], bounds[-1] + len(xb)
        if x is None or stop > len(x):  # sized for batches like the first; grown if a later one is larger
            rows = stop + (len(names) - i - 1) * len(xb)
            x = _grown(x, start, (rows, 3072), dtype)
            y = _grown(y, start, (rows,), np.int64)
        x[start:stop] = xb
        y[start:stop] = yb
        if dtype != np.uint8:
            x[start:stop] /= 255
        bounds.append(stop)
        del xb, yb  # before the next file is read
    if bounds[-1] < len(x):
        x, y = x[:bounds[-1]].copy(), y[:bounds[-1]].copy()
    return x, y, bounds


def _grown(a, keep, shape, dtype):
    out = np.empty(shape, dtype)
    if a is not None:
        out[:keep] = a[:keep]
    return out


def one_hot(y, n_classes=10, dtype="float32"):
    """Labels ``(N,)`` -> one-hot rows ``(N, n_classes)``."""
    y = np.asarray(y)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"one_hot: labels must be in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    out = np.zeros((len(y), n_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def standardize(train, *others):
    """Per-feature standardization with the training set's statistics, as the assignment prescribes.

    Returns ``(train, *others, mean, std)``, all arrays new; features constant in ``train`` keep std 1.
    """
    mean = train.mean(axis=0, dtype=np.float64)
    std = train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1
    mean, std = mean.astype(train.dtype), std.astype(train.dtype)
    return (*((a - mean) / std for a in (train,) + others), mean, std)


CifarSplits = namedtuple("CifarSplits", "x_train y_train x_val y_val x_test y_test mean std")


def cifar10_splits(path=None, scheme="basic", n_val=1000, *, standardized=True, dtype="float32"):
    """Train/validation/test sets of the assignment, scaled to [0, 1] and standardized.

    ``scheme="basic"``: train on ``data_batch_1``, validate on ``data_batch_2``.
    ``scheme="all"``: train on all 5 batches but the last ``n_val`` images, validate on those
    (49000/1000 with the default, the bonus exercise). The test set is always ``test_batch``.
    With ``standardized``, every set is shifted and scaled by the training set's per-feature mean and
    std (returned as ``mean``/``std``; None otherwise). Labels stay int64 ``(N,)``: see :func:`one_hot`.
    ``dtype="uint8"`` keeps every set as raw uint8 pixels and, with ``standardized``, returns the training
    set's per-feature mean/std in pixel units (float64), for ``pydl.data.Normalize(mean, std)`` per batch.
    """
    return cifar10_schemes(path, (scheme,), n_val, standardized=standardized, dtype=dtype)[scheme]


def cifar10_schemes(path=None, schemes=("basic", "all"), n_val=1000, *, standardized=True, dtype="float32"):
    """``{scheme: CifarSplits}``, each as :func:`cifar10_splits` returns it, reading every file once: the
    training batches the schemes need and ``test_batch`` are loaded into one array each, and the sets
    are row ranges of those (views; only ``standardized`` float sets are new arrays). With
    ``dtype="uint8"`` "basic" and "all" together hold the data set once (180 MB), not twice."""
    schemes = tuple(dict.fromkeys(schemes))
    for scheme in schemes:
        if scheme not in ("basic", "all"):
            raise ValueError(f"cifar10_splits: scheme must be 'basic' or 'all', got {scheme!r}")
    folder = _find_dir(path)
    x, y, bounds = _load_batches(folder, TRAIN_BATCHES if "all" in schemes else TRAIN_BATCHES[:2], dtype)
    if "all" in schemes and not 0 < n_val < len(x):
        raise ValueError(f"cifar10_splits: n_val must be in 1..{len(x) - 1}, got {n_val}")
    x_test, y_test, _ = _load_batches(folder, (TEST_BATCH,), dtype)
    out = {}
    for scheme in schemes:
        # "basic": train on data_batch_1, validate on data_batch_2; "all": the last n_val images validate.
        split = bounds[:3] if scheme == "basic" else (0, len(x) - n_val, len(x))
        train, val = slice(split[0], split[1]), slice(split[1], split[2])
        sets = (x[train], x[val], x_test)
        mean = std = None
        if standardized and np.dtype(dtype) == np.uint8:
            from ..data import feature_stats
            mean, std = feature_stats(sets[0])
        elif standardized:
            *sets, mean, std = standardize(*sets)
        out[scheme] = CifarSplits(sets[0], y[train], sets[1], y[val], sets[2], y_test, mean, std)
    return out


class _Py2Pickler:
    """Writes a pickle as Python 2's cPickle did for the official batches (protocol 2): strings as
    BINSTRING (read back as bytes with ``encoding="bytes"``), ints as BININT*, every string, tuple, list,
    dict and global memoized, lists and dicts in batches of 1000, and the array reduced by Python 2's
    NumPy (``numpy.core.multiarray._reconstruct`` with a raw string of the pixels, dtype state 8-tuple)."""

    def __init__(self, f):
        self.f, self.memo = f, 0

    def put(self):
        i, self.memo = self.memo, self.memo + 1
        self.f.write(b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i))

    def int(self, v):
        if 0 <= v < 256:
            self.f.write(b"K" + bytes([v]))
        elif 0 <= v < 65536:
            self.f.write(b"M" + struct.pack("<H", v))
        else:
            self.f.write(b"J" + struct.pack("<i", v))

    def str(self, b):
        if isinstance(b, str):
            b = b.encode("latin1")
        self.f.write((b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))))
        self.f.write(b)
        self.put()

    def glob(self, module, name):
        self.f.write(b"c" + module.encode() + b"\n" + name.encode() + b"\n")
        self.put()

    def batches(self, items, write_item, end):
        for s in range(0, len(items), 1000):
            self.f.write(b"(")
            for item in items[s:s + 1000]:
                write_item(item)
            self.f.write(end)

    def array(self, a):
        self.glob("numpy.core.multiarray", "_reconstruct")
        self.glob("numpy", "ndarray")
        self.int(0)
        self.f.write(b"\x85")  # TUPLE1: (0,)
        self.put()
        self.str("b")
        self.f.write(b"\x87R")  # TUPLE3, REDUCE
        self.put()
        self.f.write(b"(")  # state: (1, shape, dtype, False, raw)
        self.int(1)
        for d in a.shape:
            self.int(d)
        self.f.write(b"\x85\x86\x87"[a.ndim - 1:a.ndim])
        self.put()
        self.glob("numpy", "dtype")
        self.str(a.dtype.str[1:])  # 'u1'
        self.int(0)
        self.int(1)
        self.f.write(b"\x87R")
        self.put()
        self.f.write(b"(")
        self.int(3)
        self.str(a.dtype.str[0])  # '|'
        self.f.write(b"NNN")
        self.f.write(b"J\xff\xff\xff\xffJ\xff\xff\xff\xff")  # -1, -1
        self.int(0)
        self.f.write(b"t")
        self.put()
        self.f.write(b"b\x89")  # BUILD the dtype; NEWFALSE (not Fortran order)
        self.str(np.ascontiguousarray(a).tobytes())
        self.f.write(b"t")
        self.put()
        self.f.write(b"b")  # BUILD the array

    def value(self, v):
        if isinstance(v, (bytes, str)):
            self.str(v)
        elif isinstance(v, int):
            self.int(v)
        elif isinstance(v, np.ndarray):
            self.array(v)
        elif isinstance(v, list):
            self.f.write(b"]")
            self.put()
            self.batches(v, self.value, b"e")
        elif isinstance(v, dict):
            self.f.write(b"}")
            self.put()
            self.batches(list(v.items()), lambda kv: (self.value(kv[0]), self.value(kv[1])), b"u")
        else:
            raise TypeError(f"cannot write {type(v).__name__} as a Python 2 pickle")

    def dump(self, obj):
        self.f.write(b"\x80\x02")
        self.value(obj)
        self.f.write(b".")


def write_fake_cifar10(folder, n_per_batch=50, seed=0, *, n_test=None):
    """Write random CIFAR-10-format batches (``data_batch_1..5``, ``test_batch``) into ``folder``.

    The official format: Python 2 pickles (protocol 2) of a dict with bytes keys, b'data' uint8
    ``(N, 3072)``, b'labels' a list of ints, b'batch_label' and b'filenames' (bytes), written as Python 2
    wrote them (see :class:`_Py2Pickler`), with a per-class colour bias so a linear classifier has
    something to learn. ``n_test`` images in ``test_batch`` (default ``n_per_batch``); 10000 and 10000
    give the full-size data set.
    """
    folder = Path(folder)
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 255, size=(10, 3072))
    for name in TRAIN_BATCHES + (TEST_BATCH,):
        n = n_per_batch if name != TEST_BATCH or n_test is None else n_test
        labels = rng.integers(0, 10, size=n)
        data = np.clip(prototypes[labels] + rng.normal(0, 60, size=(n, 3072)), 0, 255)
        label = ("testing batch 1 of 1" if name == TEST_BATCH else
                 f"training batch {TRAIN_BATCHES.index(name) + 1} of 5")
        batch = {b"batch_label": label.encode(), b"labels": labels.tolist(), b"data": data.astype(np.uint8),
                 b"filenames": [f"fake_{i}.png".encode() for i in range(n)]}
        with open(folder / name, "wb") as f:
            _Py2Pickler(f).dump(batch)
    return folder
