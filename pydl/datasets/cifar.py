"""CIFAR-10 from the official python batches, and the preprocessing of the DD2424 assignment (seed 002)."""
import codecs
import io
import os
import pickle
from collections import namedtuple
from pathlib import Path

import numpy as np

from ._paths import data_roots, not_found

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# The only globals a CIFAR batch pickle refers to: ndarray reconstruction (numpy 1 and 2 spell the
# module differently; protocol 5 uses _frombuffer) and, in protocol-2 pickles written by Python 3,
# _codecs.encode for bytes (it only turns a str into bytes). Resolving them ourselves keeps numpy 2 from
# warning about numpy.core and refuses anything else a tampered file could name (os.system, eval, ...).
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def load_cifar10_batch(file):
    """``(x, y)`` from one CIFAR-10 python batch file: uint8 ``(N, 3072)`` rows (1024 red, 1024 green,
    1024 blue values, each 32x32 row-major) and int64 labels ``(N,)``.

    The pickle is read with an unpickler that only rebuilds NumPy arrays, so a tampered file cannot run
    code. A truncated or foreign file raises ``ValueError`` naming it.
    """
    with open(file, "rb") as f:
        raw = f.read()
    try:
        # The official batches were pickled by Python 2: keys and strings come back as bytes.
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise ValueError(f"{file}: not a readable CIFAR-10 batch ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{file}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    x, y = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        shape = getattr(x, "shape", None)
        raise ValueError(f"{file}: b'data' must be uint8 of shape (N, 3072), got "
                         f"{getattr(x, 'dtype', type(x).__name__)} {shape}")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() > 9)):
        raise ValueError(f"{file}: b'labels' must be {len(x)} integers in 0..9, got {y.dtype} {y.shape}")
    return x, y.astype(np.int64)


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
    ``dtype`` in [0, 1], otherwise uint8. ``y``: int64 labels ``(N,)``, names in :data:`CLASSES`.
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
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise not_found("cifar10", [folder], ", ".join(missing))
    xs, ys = zip(*(load_cifar10_batch(folder / n) for n in names))
    x, y = np.concatenate(xs), np.concatenate(ys)
    if not flatten:
        x = x.reshape(len(x), 3, 32, 32)
    if normalize:
        x = x.astype(dtype)
        x /= 255
    return x, y


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
    """
    if scheme == "basic":
        x_train, y_train = load_cifar10(path, 1, dtype=dtype)
        x_val, y_val = load_cifar10(path, 2, dtype=dtype)
    elif scheme == "all":
        x, y = load_cifar10(path, "train", dtype=dtype)
        if not 0 < n_val < len(x):
            raise ValueError(f"cifar10_splits: n_val must be in 1..{len(x) - 1}, got {n_val}")
        x_train, y_train, x_val, y_val = x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]
    else:
        raise ValueError(f"cifar10_splits: scheme must be 'basic' or 'all', got {scheme!r}")
    x_test, y_test = load_cifar10(path, "test", dtype=dtype)
    mean = std = None
    if standardized:
        x_train, x_val, x_test, mean, std = standardize(x_train, x_val, x_test)
    return CifarSplits(x_train, y_train, x_val, y_val, x_test, y_test, mean, std)


def write_fake_cifar10(folder, n_per_batch=50, seed=0):
    """Write random CIFAR-10-format batches (``data_batch_1..5``, ``test_batch``) into ``folder``.

    Same dict layout and dtypes as the official files (bytes keys, uint8 data, list of int labels),
    with a per-class colour bias so a linear classifier has something to learn.
    """
    folder = Path(folder)
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 255, size=(10, 3072))
    for name in TRAIN_BATCHES + (TEST_BATCH,):
        labels = rng.integers(0, 10, size=n_per_batch)
        data = np.clip(prototypes[labels] + rng.normal(0, 60, size=(n_per_batch, 3072)), 0, 255)
        batch = {b"batch_label": name.encode(), b"labels": labels.tolist(),
                 b"data": data.astype(np.uint8),
                 b"filenames": [f"fake_{i}.png".encode() for i in range(n_per_batch)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return folder
