"""MNIST and Fashion-MNIST from their IDX files."""
import os
from pathlib import Path

import numpy as np

from ._paths import data_roots, not_found
from .idx import read_idx, write_idx

_STEMS = {"train": "train", "test": "t10k"}
# Debian's dataset-fashion-mnist package installs the four .gz files here.
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def _candidates(kind, stem):
    # Windows archivers turn "train-images-idx3-ubyte" into "train-images.idx3-ubyte"; accept both.
    idx = "idx3" if kind == "images" else "idx1"
    for name in (f"{stem}-{kind}-{idx}-ubyte", f"{stem}-{kind}.{idx}-ubyte"):
        yield name + ".gz"
        yield name


def _find(folder, kind, stem):
    for name in _candidates(kind, stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _search_dirs(name, path):
    if path is not None:
        return [Path(path).expanduser()]
    dirs = [root / name for root in data_roots()]
    if name == "fashion-mnist":
        dirs.append(DEBIAN_FASHION_DIR)
    return dirs


def _load(name, path, split, normalize, flatten, dtype):
    if split not in _STEMS:
        raise ValueError(f"load_{name.replace('-', '_')}: split must be 'train' or 'test', got {split!r}")
    stem = _STEMS[split]
    dirs = _search_dirs(name, path)
    for folder in dirs:
        images_path, labels_path = _find(folder, "images", stem), _find(folder, "labels", stem)
        if images_path and labels_path:
            break
    else:
        raise not_found(name, dirs, f"{stem}-images-idx3-ubyte[.gz] and {stem}-labels-idx1-ubyte[.gz]")
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise ValueError(f"{images_path}, {labels_path}: expected unsigned-byte IDX data, "
                         f"got {images.dtype} images and {labels.dtype} labels")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                         f"{len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: labels must be 0..9, found {labels.max()}")
    x = images.reshape(len(images), -1) if flatten else images
    if normalize and np.dtype(dtype) != np.uint8:
        x = x.astype(dtype)
        x /= 255
    return x, labels.astype(np.int64)


def load_mnist(path=None, split="train", *, normalize=True, flatten=False, dtype="float32"):
    """One split of MNIST as ``(x, y)``.

    ``path``: the folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzipped (``.gz``) or raw.
    None searches ``$PYDL_DATA/mnist`` and ``~/.pydl/data/mnist``.
    ``split``: ``"train"`` (60000 images) or ``"test"`` (10000).

    ``x`` has shape ``(N, 28, 28)``, or ``(N, 784)`` with ``flatten=True``; with ``normalize`` it is
    ``dtype`` in [0, 1], otherwise (or with ``dtype="uint8"``) the raw uint8 pixels. ``y`` is int64 labels 0..9, shape ``(N,)``.
    Raises :class:`DatasetNotFoundError` (a ``FileNotFoundError``) when the files are nowhere, and
    ``ValueError`` naming the file when one is truncated or not IDX.
    """
    return _load("mnist", path, split, normalize, flatten, dtype)


def load_fashion_mnist(path=None, split="train", *, normalize=True, flatten=False, dtype="float32"):
    """One split of Fashion-MNIST, same files, format and options as :func:`load_mnist`.

    None searches ``$PYDL_DATA/fashion-mnist``, ``~/.pydl/data/fashion-mnist`` and
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist`` package).
    """
    return _load("fashion-mnist", path, split, normalize, flatten, dtype)


def write_fake_mnist(folder, n_train=100, n_test=20, seed=0, shape=(28, 28), compress=True):
    """Write random MNIST-format files (both splits) into ``folder``: tests and offline smoke runs.

    Each class gets its own mean brightness pattern, so a classifier can learn something.
    """
    folder = Path(folder)
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 255, size=(10,) + tuple(shape))
    suffix = ".gz" if compress else ""
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        noise = rng.normal(0, 40, size=(n,) + tuple(shape))
        images = np.clip(prototypes[labels] + noise, 0, 255).astype(np.uint8)
        stem = _STEMS[split]
        write_idx(folder / f"{stem}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(folder / f"{stem}-labels-idx1-ubyte{suffix}", labels, compress)
    return folder
