"""Save and load networks: one .npz holding the architecture as JSON and every parameter array.

The file loads with ``np.load(allow_pickle=False)``: the architecture is a plain unicode array, the
weights plain float arrays named ``layer{i}.{name}``. Optimizer state is not saved (its hyper-parameters
are, so a loaded network can go on training).
"""
import json
import os
import tempfile

import numpy as np

from . import backend as _backend
from . import losses as _losses
from . import optim as _optim
from .nn import LAYERS

__all__ = ["save", "load"]

FORMAT = "pydl.network"
VERSION = 1
_ARCH_KEY = "__pydl_architecture__"


def _architecture(net):
    arch = {
        "format": FORMAT, "version": VERSION, "dtype": net.dtype.name,
        "input_shape": None if net.input_shape is None else list(net.input_shape),
        "layers": [{"class": type(layer).__name__, "config": layer.get_config()} for layer in net.layers],
        "loss": None if net.loss is None else {"name": net.loss.name, "config": net.loss.get_config()},
        "l2": net.l2, "backend": None if net.backend is None else _backend.name_of(net.backend), "seed": net.seed,
        "optimizer": None,
    }
    if net.optimizer is not None:
        arch["optimizer"] = {"class": type(net.optimizer).__name__, "config": net.optimizer.get_config()}
    return arch


def to_arrays(net):
    """The name -> array mapping a saved file holds."""
    arrays = {_ARCH_KEY: np.array(json.dumps(_architecture(net)))}
    for name, p in net.named_parameters():
        arrays[name] = p.data
    return arrays


def from_arrays(arrays, dtype=None):
    """A Network from a name -> array mapping made by :func:`to_arrays` (``dtype`` overrides the saved one)."""
    from .network import Network

    arch = json.loads(str(arrays[_ARCH_KEY][()]))
    if arch.get("format") != FORMAT:
        raise ValueError(f"the architecture record is not a {FORMAT} (format {arch.get('format')!r})")
    if arch.get("version") != VERSION:
        raise ValueError(f"file format version {arch.get('version')!r}; this pydl reads version {VERSION}")
    dtype = dtype or arch["dtype"]
    layers = []
    for spec in arch["layers"]:
        if spec["class"] not in LAYERS:
            raise ValueError(f"unknown layer class {spec['class']!r}")
        layers.append(LAYERS[spec["class"]](**spec["config"], dtype=dtype))
    loss = None
    if arch["loss"] is not None:
        loss = _losses.get(arch["loss"]["name"])
        loss = type(loss)(**arch["loss"]["config"])
    opt = None
    if arch["optimizer"] is not None:
        opt = _optim.from_config(arch["optimizer"]["class"], arch["optimizer"]["config"])
    net = Network(layers, loss=loss, optimizer=opt, l2=arch["l2"], dtype=dtype, backend=arch["backend"],
                  input_shape=arch["input_shape"])
    net.seed = arch.get("seed")
    for name, p in net.named_parameters():
        if name not in arrays:
            raise ValueError(f"missing parameter {name!r}")
        saved = arrays[name]
        if saved.shape != p.shape:
            raise ValueError(f"parameter {name!r} has shape {saved.shape}, the architecture needs {p.shape}")
        p.data[...] = saved
    return net


def save(net, path):
    """Write ``net`` to ``path`` (.npz) atomically: a temporary file in the same directory, then
    ``os.replace``, so a crash never leaves a half-written file under ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".pydl-", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **to_arrays(net))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path, dtype=None):
    """A Network from a file written by ``Network.save``; ValueError for a corrupted or foreign file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:  # np.load raises assorted errors (OSError, BadZipFile, ValueError, EOFError) for junk
        raise ValueError(f"load: {path} is not a pydl network file ({type(e).__name__}: {e})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"load: {path} is not a pydl network file (a single .npy array, not an .npz archive)")
    with data:
        if _ARCH_KEY not in data.files:
            raise ValueError(f"load: {path} is not a pydl network file (no {_ARCH_KEY} record)")
        try:
            return from_arrays({name: data[name] for name in data.files}, dtype=dtype)
        except Exception as e:  # a damaged archive fails on read with zlib, zipfile or JSON errors alike
            raise ValueError(f"load: {path} is corrupted or incompatible ({type(e).__name__}: {e})") from None
