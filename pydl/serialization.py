"""Save and load networks: one .npz holding the architecture as JSON and every parameter array.

The file loads with ``np.load(allow_pickle=False)``: the architecture is a plain unicode array, the
weights and the layers' persistent buffers (BatchNorm's running statistics) plain float arrays named
``layer{i}.{name}``. The optimizer's hyper-parameters are always saved;
``save(path, include_optimizer=True)`` also keeps its state arrays (``optimizer.{k}.{name}`` for the k-th
parameter), its step count and the network's generator state, so training resumes exactly where it
stopped. Users' layer classes load once registered (:func:`pydl.register_layer`).

Loading treats the file as hostile. The architecture is checked first (types, counts, sizes, layer
geometry within fixed limits: at most ``MAX_LAYERS`` layers, and the layers' own limits on sizes, kernel,
stride, padding and parameter count from ``pydl.nn.layers``), then every parameter member's ``.npy`` header is read (without its data)
and must declare exactly the shape the architecture implies and a real float dtype (float32/float64);
only then are layers built, through their own constructors, and the members read one by one straight
into them. Members the network does not need are never read (an unused zip bomb costs nothing), non-finite
weights are refused, and every failure is a ``ValueError`` naming the file (``FileNotFoundError`` for a
missing path).

The file records the network's device by name ("cpu", "numpy", or a registered backend's; files written
before say "cpp", an alias of "cpu"); ``load(path, device=...)`` puts the network elsewhere.

Saving is atomic and durable: the data goes to a temporary file next to the target, named
``.pydl-<target name>.<writer pid>.<random>.tmp``, created with the mode a new file gets under the umask
(or the existing target's mode), flushed and fsynced, then renamed over the target with ``os.replace``;
the directory is fsynced afterwards (best effort). Any exception, KeyboardInterrupt included, removes the
temporary file. A writer killed outright (SIGKILL, power loss) can leave one behind: the next ``save`` or
``load`` of the same target removes such files whose writer process no longer exists, or that are older
than an hour (a reused PID). Nothing else in the directory is touched.
"""
import json
import math
import os
import re
import secrets
import time
import zipfile

import numpy as np

from . import backends as _backends
from . import losses as _losses
from . import optim as _optim
from .nn import LAYERS, REGISTERED
from .nn.base import as_float_dtype
from .nn.layers import MAX_FEATURES, MAX_GEOMETRY, MAX_PARAMETERS  # the layers' own limits, checked earlier

__all__ = ["save", "load", "MAX_LAYERS", "UnregisteredLayer"]

FORMAT = "pydl.network"
VERSION = 1
_ARCH_KEY = "__pydl_architecture__"

MAX_LAYERS = 1024            # real networks have < 100; a bound keeps a hostile architecture cheap to refuse
_MAX_INPUT_ELEMENTS = 1 << 31
_MAX_ARCH_CHARS = 1 << 22    # the architecture JSON (a real one is a few KB)
_MAX_MEMBERS = 8 * MAX_LAYERS + 64  # parameters and up to three optimizer state arrays each
_DEFLATE_MAX_RATIO = 1100    # deflate expands at most ~1032:1; a member claiming more is damaged
_STALE_SECONDS = 3600
_BACKEND_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,64}")


_RESUMABLE_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _layer_name(layer):
    return getattr(type(layer), "_registered_name", type(layer).__name__)


def _architecture(net, include_optimizer=False):
    arch = {
        "format": FORMAT, "version": VERSION, "dtype": net.dtype.name,
        "input_shape": None if net.input_shape is None else list(net.input_shape),
        "layers": [{"class": _layer_name(layer), "config": layer.get_config()} for layer in net.layers],
        "loss": None if net.loss is None else {"name": net.loss.name, "config": net.loss.get_config()},
        "l2": net.l2, "backend": net.backend,
        "seed": net.seed if isinstance(net.seed, int) else None,  # a Generator seed is not a number to save
        "optimizer": None,
    }
    if net.optimizer is not None:
        arch["optimizer"] = {"class": type(net.optimizer).__name__, "config": net.optimizer.get_config()}
    if include_optimizer:
        opt = net.optimizer
        arch["training_state"] = {
            "steps": 0 if opt is None else opt.steps,
            "state": None if opt is None or opt._state is None else [sorted(s) for s in opt._state],
            "generator": net._rng.bit_generator.state,
        }
    return arch


def to_arrays(net, include_optimizer=False):
    """The name -> NumPy array mapping a saved file holds."""
    arrays = {_ARCH_KEY: np.array(json.dumps(_architecture(net, include_optimizer)))}
    dev = net._dev
    for name, p in net.named_parameters():
        arrays[name] = dev.to_numpy(p.data, copy=False)
    for name, a in net.named_buffers():
        arrays[name] = dev.to_numpy(a, copy=False)
    opt = net.optimizer
    if include_optimizer and opt is not None and opt._state is not None:
        for k, state in enumerate(opt._state):
            for key, a in state.items():
                arrays[f"optimizer.{k}.{key}"] = dev.to_numpy(a, copy=False)
    return arrays


# ---- architecture validation -------------------------------------------------------------------

def _is_int(v):
    return type(v) is int


def _is_number(v):
    return type(v) in (int, float) and math.isfinite(v)


def _int_in(v, lo, hi, what):
    if not _is_int(v) or not lo <= v <= hi:
        raise ValueError(f"{what} must be an integer in {lo}..{hi}, got {v!r:.60}")
    return v


def _pair_in(v, lo, hi, what):
    if _is_int(v):
        v = [v, v]
    if not isinstance(v, list) or len(v) != 2:
        raise ValueError(f"{what} must be an integer or a pair of integers, got {v!r:.60}")
    return [_int_in(e, lo, hi, what) for e in v]


def _check_keys(config, allowed, what):
    if not isinstance(config, dict):
        raise ValueError(f"{what}: config must be an object, got {type(config).__name__}")
    extra = set(config) - set(allowed)
    if extra:
        raise ValueError(f"{what}: unknown config keys {sorted(extra)!r:.100}")


def _check_init(config, what):
    if "init" in config and (not isinstance(config["init"], str) or len(config["init"]) > 64):
        raise ValueError(f"{what}: init must be an initializer name, got {config['init']!r:.60}")


def _check_bias(config, what):
    if "bias" in config and type(config["bias"]) is not bool:
        raise ValueError(f"{what}: bias must be true or false, got {config['bias']!r:.60}")


def _within_limit(shapes, what):
    count = sum(math.prod(shape) for shape in shapes.values())
    if count > MAX_PARAMETERS:
        raise ValueError(f"{what}: {count} parameters (pydl layers hold at most {MAX_PARAMETERS})")
    return shapes


def _check_activation(config, what):
    act = config.get("activation")
    if act is not None and not isinstance(act, str):
        raise ValueError(f"{what}: activation must be a name, got {act!r:.60}")


def _layer_params(cls, config, what):
    """Check a layer config against fixed limits and return the parameter shapes it implies, before any
    constructor runs (a constructor allocates and initializes its weights)."""
    if cls == "Dense":
        _check_keys(config, ("in_features", "out_features", "bias", "activation", "init"), what)
        n_in = _int_in(config.get("in_features"), 1, MAX_FEATURES, f"{what}: in_features")
        n_out = _int_in(config.get("out_features"), 1, MAX_FEATURES, f"{what}: out_features")
        _check_bias(config, what)
        _check_init(config, what)
        _check_activation(config, what)
        return _within_limit({"W": (n_in, n_out), **({"b": (n_out,)} if config.get("bias", True) else {})}, what)
    if cls == "Conv2D":
        _check_keys(config, ("in_channels", "out_channels", "kernel_size", "stride", "padding", "bias", "activation",
                             "init"), what)
        c_in = _int_in(config.get("in_channels"), 1, MAX_FEATURES, f"{what}: in_channels")
        c_out = _int_in(config.get("out_channels"), 1, MAX_FEATURES, f"{what}: out_channels")
        kh, kw = _pair_in(config.get("kernel_size"), 1, MAX_GEOMETRY, f"{what}: kernel_size")
        _pair_in(config.get("stride", 1), 1, MAX_GEOMETRY, f"{what}: stride")
        _pair_in(config.get("padding", 0), 0, MAX_GEOMETRY, f"{what}: padding")
        _check_bias(config, what)
        _check_init(config, what)
        _check_activation(config, what)
        return _within_limit({"W": (c_out, c_in, kh, kw), **({"b": (c_out,)} if config.get("bias", True) else {})},
                             what)
    if cls in ("MaxPool2D", "AvgPool2D"):
        _check_keys(config, ("kernel_size", "stride", "padding"), what)
        _pair_in(config.get("kernel_size"), 1, MAX_GEOMETRY, f"{what}: kernel_size")
        if config.get("stride") is not None:
            _pair_in(config["stride"], 1, MAX_GEOMETRY, f"{what}: stride")
        _pair_in(config.get("padding", 0), 0, MAX_GEOMETRY, f"{what}: padding")
        return {}
    if cls == "Sigmoid":
        _check_keys(config, ("clip",), what)
        if config.get("clip") is not None and not _is_number(config["clip"]):
            raise ValueError(f"{what}: clip must be a finite number, got {config['clip']!r:.60}")
        return {}
    if cls in ("BatchNorm1d", "BatchNorm2d"):
        _check_keys(config, ("num_features", "eps", "momentum"), what)
        c = _int_in(config.get("num_features"), 1, MAX_FEATURES, f"{what}: num_features")
        for key in ("eps", "momentum"):
            if key in config and not _is_number(config[key]):
                raise ValueError(f"{what}: {key} must be a finite number, got {config[key]!r:.60}")
        # Parameters, then the persistent buffers: every member the layer reads from the file.
        return {"gamma": (c,), "beta": (c,), "running_mean": (c,), "running_var": (c,)}
    if cls in ("LeakyReLU", "Dropout"):
        key = {"LeakyReLU": "negative_slope", "Dropout": "p"}[cls]
        _check_keys(config, (key,), what)
        if key in config and not _is_number(config[key]):
            raise ValueError(f"{what}: {key} must be a finite number, got {config[key]!r:.60}")
        return {}
    if cls in LAYERS:
        _check_keys(config, (), what)
        return {}
    if cls in REGISTERED:
        if not isinstance(config, dict):
            raise ValueError(f"{what}: config must be an object, got {type(config).__name__}")
        return None  # a user's layer: its parameter shapes are known once it is built
    raise UnregisteredLayer(f"{what} is a layer class not registered here; run the code that defines {cls:.60} "
                            f"and decorate the class with @pydl.register_layer (or call pydl.register_layer("
                            f"{cls:.60})) before pydl.load")


class UnregisteredLayer(ValueError):
    """A file holds a layer class that is neither pydl's nor registered."""


def _check_hyper(config, allowed_bools, what):
    for key, v in config.items():
        if key in allowed_bools:
            if type(v) is not bool:
                raise ValueError(f"{what}: {key} must be true or false, got {v!r:.60}")
        elif key == "betas":
            if not (isinstance(v, list) and len(v) == 2 and all(_is_number(b) for b in v)):
                raise ValueError(f"{what}: betas must be two finite numbers, got {v!r:.60}")
        elif not _is_number(v):
            raise ValueError(f"{what}: {key} must be a finite number, got {v!r:.60}")


_LOSS_KEYS = {"bce": ("eps",)}
_OPTIMIZER_KEYS = {"sgd": ("lr", "momentum", "dampening", "weight_decay", "nesterov"),
                   "rmsprop": ("lr", "alpha", "eps", "weight_decay", "momentum", "centered"),
                   "adam": ("lr", "betas", "eps", "weight_decay"),
                   "adamw": ("lr", "betas", "eps", "weight_decay")}


def _parse_architecture(text):
    """The architecture record, checked field by field; returns (arch, per-layer parameter shapes)."""
    if not isinstance(text, str) or len(text) > _MAX_ARCH_CHARS:
        raise ValueError("the architecture record is not a string of at most 4 MiB")

    def no_constants(name):
        raise ValueError(f"the architecture holds {name}")

    try:
        arch = json.loads(text, parse_constant=no_constants)
    except RecursionError:
        raise ValueError("the architecture record is nested too deeply") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"the architecture record is not JSON ({e})") from None
    if not isinstance(arch, dict):
        raise ValueError("the architecture record is not a JSON object")
    if arch.get("format") != FORMAT:
        raise ValueError(f"the architecture record is not a {FORMAT} (format {arch.get('format')!r:.60})")
    if arch.get("version") != VERSION:
        raise ValueError(f"file format version {arch.get('version')!r:.60}; this pydl reads version {VERSION}")
    if arch.get("dtype") not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {arch.get('dtype')!r:.60}")
    shape = arch.get("input_shape")
    if shape is not None:
        if not isinstance(shape, list) or not 1 <= len(shape) <= 4:
            raise ValueError(f"input_shape must be a list of 1 to 4 sizes, got {shape!r:.60}")
        size = 1
        for d in shape:
            size *= _int_in(d, 1, MAX_FEATURES, "input_shape")
        if size > _MAX_INPUT_ELEMENTS:
            raise ValueError(f"input_shape {shape} has more than {_MAX_INPUT_ELEMENTS} elements")
    layers = arch.get("layers")
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        n = len(layers) if isinstance(layers, list) else type(layers).__name__
        raise ValueError(f"layers must be a list of 1 to {MAX_LAYERS} layers, got {n}")
    shapes = []
    for i, spec in enumerate(layers):
        if not isinstance(spec, dict) or set(spec) != {"class", "config"} or not isinstance(spec["class"], str):
            raise ValueError(f"layer {i}: expected {{'class': name, 'config': {{...}}}}, got {spec!r:.80}")
        shapes.append(_layer_params(spec["class"], spec["config"], f"layer {i} ({spec['class']:.40})"))
    loss = arch.get("loss")
    if loss is not None:
        if (not isinstance(loss, dict) or set(loss) != {"name", "config"} or not isinstance(loss["name"], str)
                or loss["name"] not in _losses._BY_NAME):
            raise ValueError(f"loss must name one of {sorted(_losses._BY_NAME)}, got {loss!r:.80}")
        _check_keys(loss["config"], _LOSS_KEYS.get(loss["name"], ()), f"loss {loss['name']}")
        _check_hyper(loss["config"], (), f"loss {loss['name']}")
    opt = arch.get("optimizer")
    if opt is not None:
        if (not isinstance(opt, dict) or set(opt) != {"class", "config"} or not isinstance(opt["class"], str)
                or opt["class"].lower() not in _OPTIMIZER_KEYS):
            raise ValueError(f"optimizer must be one of SGD, RMSprop, Adam, AdamW, got {opt!r:.80}")
        what = f"optimizer {opt['class']}"
        _check_keys(opt["config"], _OPTIMIZER_KEYS[opt["class"].lower()], what)
        _check_hyper(opt["config"], ("nesterov", "centered"), what)
    l2 = arch.get("l2", 0.0)
    if not _is_number(l2) or l2 < 0:
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r:.60}")
    backend = arch.get("backend")
    if backend is not None and not (isinstance(backend, str) and _BACKEND_NAME.fullmatch(backend)):
        raise ValueError(f"backend must be a backend's name ('cpu', 'numpy', ...) or null, got {backend!r:.60}")
    seed = arch.get("seed")
    if seed is not None:
        _int_in(seed, 0, (1 << 128) - 1, "seed")
    training = arch.get("training_state")
    if training is not None:
        _check_training_state(training, opt)
    return arch, shapes


def _check_training_state(training, opt):
    if not isinstance(training, dict) or set(training) != {"steps", "state", "generator"}:
        raise ValueError(f"training_state must hold steps, state and generator, got {training!r:.80}")
    _int_in(training["steps"], 0, 1 << 62, "training_state: steps")
    state = training["state"]
    if state is not None:
        if opt is None or not isinstance(state, list) or len(state) > 2 * MAX_LAYERS:
            raise ValueError("training_state: optimizer state without an optimizer, or not a list")
        for names in state:
            if not (isinstance(names, list) and len(names) <= 3
                    and all(isinstance(n, str) and re.fullmatch(r"[a-z_]{1,32}", n) for n in names)):
                raise ValueError(f"training_state: bad state names {names!r:.80}")
    generator = training["generator"]
    if not (isinstance(generator, dict) and generator.get("bit_generator") in _RESUMABLE_GENERATORS):
        raise ValueError(f"training_state: generator must be one of {_RESUMABLE_GENERATORS}, got {generator!r:.80}")


def _build(arch, shapes, dtype, device):
    """The network the (already checked) architecture describes, on ``device`` (None: the saved one); its
    constructors check the rest."""
    from .network import Network

    dtype = as_float_dtype(dtype or arch["dtype"])
    if device is None and arch.get("backend") is not None:
        try:
            device = _backends.get(arch["backend"])
        except ValueError as e:
            raise ValueError(f"the network was saved on a device unknown here ({e}); register that backend or "
                             f"pass device=") from None
        except RuntimeError as e:  # known, but cannot run here (a GPU file on a machine without one)
            raise ValueError(f"the network was saved on a device that is not available here ({e}); pass "
                             f"device='cpu' to load it there") from None
    try:
        layers = [_make_layer(spec, dtype) for spec in arch["layers"]]
        loss = None
        if arch["loss"] is not None:
            loss = type(_losses.get(arch["loss"]["name"]))(**arch["loss"]["config"])
        opt = None
        if arch["optimizer"] is not None:
            opt = _optim.from_config(arch["optimizer"]["class"], arch["optimizer"]["config"])
        net = Network(layers, loss=loss, optimizer=opt, l2=arch.get("l2", 0.0), dtype=dtype, device=device,
                      input_shape=arch.get("input_shape"))
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"the architecture is invalid ({type(e).__name__}: {e})") from None
    net.seed = arch.get("seed")
    for i, layer in enumerate(net.layers):
        if shapes[i] is None:  # a user's layer: its parameters and buffers as built, within the layers' limit
            shapes[i] = _within_limit({**{p.name: p.shape for p in layer.parameters()},
                                       **{k: tuple(a.shape) for k, a in layer.buffers.items()}},
                                      f"layer {i} ({arch['layers'][i]['class']})")
    names = [name for name, _ in _members(net)]
    expected = [f"layer{i}.{p}" for i, s in enumerate(shapes) for p in s]
    if names != expected:  # the layers' own parameters and buffers must be exactly those checked before building
        raise ValueError(f"the layers hold parameters {names}, the architecture implies {expected}")
    return net


def _members(net):
    """(name, array) of every layer member a file holds: each layer's parameters, then its buffers."""
    return [(f"layer{i}.{name}", a) for i, layer in enumerate(net.layers)
            for name, a in [(p.name, p.data) for p in layer.parameters()] + list(layer.buffers.items())]


def _make_layer(spec, dtype):
    cls = spec["class"]
    if cls in LAYERS:
        return LAYERS[cls](**spec["config"], dtype=dtype)
    return REGISTERED[cls](**spec["config"]).set_dtype(dtype)


def _restore_training(net, training, read):
    """Optimizer state, step count and generator of a file saved with include_optimizer; ``read(name,
    shape)`` gives a checked member."""
    opt = net.optimizer
    if training["state"] is not None:
        if len(training["state"]) != len(opt.params):
            raise ValueError(f"the optimizer state covers {len(training['state'])} parameters, the network has "
                             f"{len(opt.params)}")
        opt._state = [opt._new_state(p.data) for p in opt.params]
        for k, (names, state, p) in enumerate(zip(training["state"], opt._state, opt.params)):
            if names != sorted(state):
                raise ValueError(f"optimizer state {k} holds {names}, {type(opt).__name__} keeps {sorted(state)}")
            for key in names:
                net._dev.copy_(state[key], read(f"optimizer.{k}.{key}", p.shape))
    if opt is not None:
        opt.steps = training["steps"]
    generator = training["generator"]
    rng = np.random.Generator(getattr(np.random, generator["bit_generator"])())
    try:
        rng.bit_generator.state = generator
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise ValueError(f"training_state: the generator state is invalid ({type(e).__name__}: {e})") from None
    net._rng = rng


def _check_param_header(name, shape, dtype, expected):
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind != "f" or dtype.itemsize not in (4, 8):
        raise ValueError(f"parameter {name!r} has dtype {dtype}; parameters must be float32 or float64")
    if tuple(shape) != tuple(expected):
        raise ValueError(f"parameter {name!r} has shape {tuple(shape)}, the architecture needs {tuple(expected)}")


def _assign(net, name, target, values, finite=True):
    if finite and not np.all(np.isfinite(values)):
        raise ValueError(f"parameter {name!r} holds NaN or infinite values")
    net._dev.copy_(target, values)


def from_arrays(arrays, dtype=None, device=None):
    """A Network from a name -> array mapping made by :func:`to_arrays` (``dtype`` and ``device`` override the
    saved ones), checked like a loaded file except that non-finite weights are copied as they are
    (``Network.copy``)."""
    if _ARCH_KEY not in arrays:
        raise ValueError(f"no {_ARCH_KEY} record")
    record = np.asarray(arrays[_ARCH_KEY])
    if record.shape != () or record.dtype.kind != "U":
        raise ValueError(f"the architecture record must be a unicode string, got {record.dtype} {record.shape}")
    arch, shapes = _parse_architecture(str(record[()]))

    def member(name, shape):
        if name not in arrays:
            raise ValueError(f"missing parameter {name!r}")
        a = arrays[name]
        if not isinstance(a, np.ndarray):
            raise ValueError(f"parameter {name!r} is a {type(a).__name__}, not an array")
        _check_param_header(name, a.shape, a.dtype, shape)
        return a

    known = [params is not None for params in shapes]
    for i, params in enumerate(shapes):
        for pname, shape in (params or {}).items():
            member(f"layer{i}.{pname}", shape)
    net = _build(arch, shapes, dtype, device)
    for i, params in enumerate(shapes):
        for pname, shape in params.items() if not known[i] else ():
            member(f"layer{i}.{pname}", shape)
    for name, target in _members(net):
        _assign(net, name, target, arrays[name], finite=False)
    if arch.get("training_state") is not None:
        _restore_training(net, arch["training_state"], member)
    return net


# ---- reading the .npz without trusting it --------------------------------------------------------

class _Npz:
    """The members of a pydl .npz, each read only when asked, headers before data."""

    def __init__(self, path):
        self.path = path
        self.file_size = os.path.getsize(path)
        with open(path, "rb") as f:
            # The central directory's entry count, before zipfile builds an object per entry.
            end = zipfile._EndRecData(f)
        if end is None:
            raise ValueError("not a zip archive")
        if end[zipfile._ECD_ENTRIES_TOTAL] > _MAX_MEMBERS:
            raise ValueError(f"{end[zipfile._ECD_ENTRIES_TOTAL]} archive members (at most {_MAX_MEMBERS})")
        self.zip = zipfile.ZipFile(path)
        if len(self.zip.infolist()) > _MAX_MEMBERS:
            raise ValueError(f"{len(self.zip.infolist())} archive members (at most {_MAX_MEMBERS})")

    def close(self):
        self.zip.close()

    def info(self, name):
        try:
            info = self.zip.getinfo(name + ".npy")
        except KeyError:
            return None
        # Sizes the central directory declares, checked against what the file can really hold.
        if info.header_offset + info.compress_size > self.file_size:
            raise ValueError(f"member {name!r} extends past the end of the file")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise ValueError(f"member {name!r}: stored size {info.compress_size} != size {info.file_size}")
        elif info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024:
            raise ValueError(f"member {name!r} claims {info.file_size} bytes from {info.compress_size} compressed")
        return info

    def open(self, name):
        """(stream positioned at the data, shape, fortran_order, dtype, data bytes) of member ``name``."""
        info = self.info(name)
        if info is None:
            return None
        f = self.zip.open(info)
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"member {name!r}: .npy format version {version} not supported")
            if dtype.hasobject:
                raise ValueError(f"member {name!r} has dtype {dtype} (pickled objects are never read)")
            count = 1
            for d in shape:
                count *= d
            nbytes = count * dtype.itemsize
            if f.tell() + nbytes != info.file_size:
                raise ValueError(f"member {name!r}: header declares {nbytes} data bytes, the member holds "
                                 f"{info.file_size - f.tell()}")
        except BaseException:
            f.close()
            raise
        return f, shape, fortran, dtype, nbytes

    def read_data(self, f, name, shape, fortran, dtype, nbytes):
        """Read exactly the declared bytes into a new array; the member must end there (CRC checked)."""
        with f:
            out = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
            view = memoryview(out.reshape(-1, order="A")).cast("B") if nbytes else memoryview(b"")
            got = 0
            while got < nbytes:
                n = f.readinto(view[got:got + (1 << 24)])
                if not n:
                    raise ValueError(f"member {name!r} is truncated ({got} of {nbytes} data bytes)")
                got += n
            if f.read(1):
                raise ValueError(f"member {name!r} is longer than its header declares")
        return out

    def architecture(self):
        opened = self.open(_ARCH_KEY)
        if opened is None:
            return None
        f, shape, fortran, dtype, nbytes = opened
        if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * _MAX_ARCH_CHARS:
            f.close()
            raise ValueError(f"the architecture record must be a unicode string of at most {_MAX_ARCH_CHARS} "
                             f"characters, got {dtype} {shape}")
        return str(self.read_data(f, _ARCH_KEY, shape, fortran, dtype, nbytes)[()])


def _load_npz(npz, dtype, device):
    text = npz.architecture()
    if text is None:
        raise _NotPydl(f"no {_ARCH_KEY} record")
    arch, shapes = _parse_architecture(text)

    def check_header(name, shape):
        opened = npz.open(name)
        if opened is None:
            raise ValueError(f"missing parameter {name!r}")
        opened[0].close()
        _check_param_header(name, opened[1], opened[3], shape)

    def read(name, shape):
        check_header(name, shape)
        f, shape, fortran, dt, nbytes = npz.open(name)
        values = npz.read_data(f, name, shape, fortran, dt, nbytes)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name!r} holds NaN or infinite values")
        return values

    # Every parameter's header before any layer exists: nothing is allocated for a file that lacks data
    # (users' layers, whose shapes only their constructors know, right after they are built).
    known = [params is not None for params in shapes]
    for i, params in enumerate(shapes):
        for pname, shape in (params or {}).items():
            check_header(f"layer{i}.{pname}", shape)
    net = _build(arch, shapes, dtype, device)
    for i, params in enumerate(shapes):
        for pname, shape in params.items() if not known[i] else ():
            check_header(f"layer{i}.{pname}", shape)
    for name, target in _members(net):
        f, shape, fortran, dt, nbytes = npz.open(name)
        _assign(net, name, target, npz.read_data(f, name, shape, fortran, dt, nbytes))
    if arch.get("training_state") is not None:
        _restore_training(net, arch["training_state"], read)
    return net


class _NotPydl(ValueError):
    pass


def load(path, dtype=None, device=None):
    """A Network from a file written by ``Network.save``, on ``device`` (a name or a Backend; None: the
    device the file names, which must be known here).

    ``ValueError`` for a corrupted, foreign or hostile file (nothing large is allocated before the file
    is known to hold the data it declares), ``FileNotFoundError`` for a missing one. Stale temporary
    files of an interrupted save of the same path are removed (see the module docstring).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    if dtype is not None:
        dtype = as_float_dtype(dtype)
    if device is not None:
        device = _backends.get(device)
    _remove_stale_temporaries(path)
    if not os.path.isfile(path):
        raise ValueError(f"load: {path} is not a pydl network file (not a regular file)")
    try:
        npz = _Npz(path)
    except PermissionError:
        raise  # not the file's fault: the caller may not read it
    except Exception as e:  # noqa: BLE001 -- zipfile raises assorted errors (BadZipFile, OSError, EOFError) for junk
        raise ValueError(f"load: {path} is not a pydl network file ({type(e).__name__}: {e})") from None
    try:
        return _load_npz(npz, dtype, device)
    except UnregisteredLayer as e:
        raise UnregisteredLayer(f"load: {path}: {e}") from None
    except _NotPydl as e:
        raise ValueError(f"load: {path} is not a pydl network file ({e})") from None
    except RecursionError:
        raise ValueError(f"load: {path} is corrupted or incompatible (nested too deeply)") from None
    except Exception as e:  # noqa: BLE001 -- zlib, zipfile, header and JSON errors alike mean a bad file
        raise ValueError(f"load: {path} is corrupted or incompatible ({type(e).__name__}: {e})") from None
    finally:
        npz.close()


# ---- saving ------------------------------------------------------------------------------------

def _temp_pattern(path):
    name = os.path.basename(path)
    return re.compile(r"\.pydl-" + re.escape(name) + r"\.(\d+)\.[0-9a-f]{16}\.tmp\Z")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # PermissionError: exists but belongs to someone else
    return True


def _remove_stale_temporaries(path):
    """Remove ``.pydl-<name>.<pid>.<token>.tmp`` files next to ``path`` whose writer is gone (or that are
    older than an hour: a PID can be reused). Best effort: errors are ignored."""
    directory = os.path.dirname(os.path.abspath(path))
    pattern = _temp_pattern(path)
    prefix = ".pydl-" + os.path.basename(path) + "."
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        m = pattern.match(entry.name)
        if m is None:
            continue
        try:
            stale = not _pid_alive(int(m.group(1))) or now - entry.stat(follow_symlinks=False).st_mtime > _STALE_SECONDS
            if stale and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        except OSError:
            pass


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(fd)


def save(net, path, include_optimizer=False):
    """Write ``net`` to ``path`` (.npz) atomically and durably: a temporary file in the same directory,
    fsynced, then ``os.replace``, so a crash never leaves a half-written file under ``path``. An existing
    file keeps its permission bits; a new one gets the umask's. See the module docstring for the
    temporary files and their clean-up. ``include_optimizer`` also keeps the optimizer state, its step
    count and the network's generator, so training resumes exactly."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    _remove_stale_temporaries(path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    arrays = to_arrays(net, include_optimizer)
    tmp = None
    try:
        while tmp is None:
            candidate = os.path.join(
                directory, f".pydl-{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
            try:
                # 0o666 minus the umask, as open() would give a new file (mkstemp would give 0600).
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            except FileExistsError:
                continue
            tmp = candidate
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _fsync_directory(directory)
