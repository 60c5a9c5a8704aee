"""Kernel fuzzer: random calls of every public kernel in pydl.kernels, checked against pydl.reference.

A case is plain data (picklable, printable): the kernel's name and a spec per argument, built by
`draw_case(chooser)` from a `Chooser` (NumPy-seeded for the long budget, Hypothesis-driven in the tests,
so failures shrink). Templates give mostly valid calls with consistent shapes; mutations then change
one or two arguments: dtype (int, float16, complex, object, bool, byte-swapped), shape (wrong, empty,
huge-declared broadcast), layout (non-contiguous, Fortran, zero-stride, unaligned, read-only, np.matrix,
masked, ndarray subclass, list), contents (NaN, inf, huge), aliasing (the very same array or a shifted
view of another argument's buffer) and hyper-parameters (NaN, inf, huge, negative, bool, ndarray,
foreign __index__, wrong types).

`run_case` executes one case on both backends, on separate but identical copies, and returns its
outcome class:
  ok-matched       both succeeded and agree (float32: 2e-4 of the result's largest finite magnitude (at
                   least 1), float64: 1e-9; loss values 1e-6 relative; NaN or inf in the same places, where
                   NaN and inf count alike: which one an overflow gives depends on the order of operations)
  TypeError / ValueError / MemoryError   the C++ kernel raised it, and left every array argument as it
                   was, and the reference raised TypeError or ValueError too (MemoryError: for a genuinely
                   huge request; the reference may then raise MemoryError or ValueError)
  ok-overflow      both succeeded on a case with extreme values (a scalar >= 1e6 in magnitude, huge or inf
                   contents: _extreme), and their results differ where one of them overflowed to NaN/inf
                   (_overflowed); on any other case that is a mismatch
  mismatch         results differ, or one backend raised and the other did not, or they raised different types
  bad-exception    the C++ kernel raised anything else
  write-before-raise  the C++ kernel raised after changing an array argument
  crash / hang     (classified by the driver, `Runner`, which runs cases in a worker process)
"""
import math
import multiprocessing as mp
import os
import time

import numpy as np

# ---- weird scalar objects (module level, so cases pickle)


class BadIndex:
    def __index__(self):
        raise RuntimeError("no index")

    def __float__(self):
        raise RuntimeError("no float")

    def __repr__(self):
        return "BadIndex()"


class HugeIndex:
    def __index__(self):
        return 2 ** 80

    def __repr__(self):
        return "HugeIndex()"


class LyingIndex:
    """An __index__ that returns a float (Python raises TypeError when it is used)."""

    def __index__(self):
        return 1.5

    def __repr__(self):
        return "LyingIndex()"


class Sub(np.ndarray):
    pass


WEIRD_SCALARS = [0, -1, 1, 2, 3, 2 ** 31 - 1, 2 ** 31, 2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 64, -2 ** 63, 10 ** 7,
                 10 ** 8, 0.5, 1.5, -0.5, 1e308, -1e308, 1e-320, float("nan"), float("inf"), float("-inf"), True,
                 False, None, "1", b"1", 1j, (), (1,), (1, 2), (1, 2, 3), [2, 2], (1.0, 2), ("scalar", "np.int64"),
                 ("scalar", "np.float32"), ("scalar", "np.bool_"), ("scalar", "np.uint64max"),
                 ("scalar", "np.float16nan"), ("scalar", "arr1"), ("scalar", "arr1f"), ("scalar", "arr0"),
                 ("scalar", "arr0f"), ("scalar", "BadIndex"), ("scalar", "HugeIndex"), ("scalar", "LyingIndex"),
                 ("scalar", "object")]

FLOAT_DTYPES = ["float32", "float64"]
BAD_DTYPES = ["float16", "int64", "int32", "uint8", "bool", "complex128", "object", ">f8", "<f4x"]
LABEL_DTYPES = ["int64", "int32", "uint8", "int8", "uint64", "int16"]
LAYOUTS = ["strided", "fortran", "broadcast", "unaligned", "readonly", "matrix", "masked", "sub", "list", "0d"]


# ---- choosers


class Chooser:
    """Random choices from a NumPy generator."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def int(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))

    def choice(self, options):
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p):
        return bool(self.rng.random() < p)


class HypothesisChooser(Chooser):
    """The same choices drawn through hypothesis's `data` (so failing cases shrink)."""

    def __init__(self, data):
        from hypothesis import strategies as st
        self.data, self.st = data, st

    def int(self, lo, hi):
        return self.data.draw(self.st.integers(lo, hi))

    def choice(self, options):
        return options[self.data.draw(self.st.integers(0, len(options) - 1))]

    def chance(self, p):
        return self.data.draw(self.st.integers(0, 999)) < p * 1000


# ---- case templates: argument specs
# ("arr", dtype, shape, fill, layout) | ("alias", key, "same"|"shifted") | ("val", obj)


def arr(dtype, shape, fill="normal", layout="c"):
    return ("arr", dtype, tuple(shape), fill, layout)


def val(v):
    return ("val", v)


def _dims(c, n, lo=1, hi=4):
    return tuple(c.int(lo, hi) for _ in range(n))


def _out(c, dt, shape, ref_key, allow=True):
    """An out= spec: None, a fresh array, the reference array itself or a shifted view of its buffer."""
    if not allow:
        return val(None)
    k = c.int(0, 9)
    if k <= 4:
        return val(None)
    if k <= 7:
        return arr(dt, shape, "normal")
    return ("alias", ref_key, c.choice(["same", "shifted"]))


def _t_unary(c, name):
    dt = c.choice(FLOAT_DTYPES)
    shape = _dims(c, c.int(1, 3))
    fill = c.choice(["normal", "normal", "edge", "huge"])
    return {0: arr(dt, shape, fill), "out": _out(c, dt, shape, 0)}


def _t_sigmoid(c, name):
    case = _t_unary(c, name)
    if c.chance(0.4):
        case["clip"] = val(c.choice([1e-7, 0.05, 0.25, 0.4999]))
    return case


def _t_gather(c, name):
    dt = c.choice(FLOAT_DTYPES + LABEL_DTYPES[:2])
    n = c.int(1, 5)
    shape = (n,) + _dims(c, c.int(0, 2))
    rows = c.int(0, 6)
    fill = "normal" if dt in FLOAT_DTYPES else "labels:9"
    return {0: arr(dt, shape, fill), 1: arr(c.choice(LABEL_DTYPES), (rows,), f"labels:{n}"),
            "out": _out(c, dt if dt in FLOAT_DTYPES else "int64", (rows,) + shape[1:], 0)}


def _t_count_correct(c, name):
    dt = c.choice(FLOAT_DTYPES)
    n, k = c.int(1, 5), c.choice([1, 1, 2, 4])
    shape = (n,) if k == 1 and c.chance(0.5) else (n, k)
    return {0: arr(dt, shape, c.choice(["normal", "unit", "edge"])),
            1: arr(c.choice(LABEL_DTYPES), (n,), f"labels:{max(k, 2)}"),
            "threshold": val(c.choice([0.5, 0.0, 0.5]))}


def _t_backward(c, name):
    dt = c.choice(FLOAT_DTYPES)
    shape = _dims(c, c.int(1, 3))
    yfill = "normal" if name in ("relu_backward", "leaky_relu_backward") else "unit"
    return {0: arr(dt, shape, yfill), 1: arr(dt, shape), "out": _out(c, dt, shape, c.choice([0, 1]))}


def _t_leaky_relu(c, name):
    case = _t_unary(c, name) if name == "leaky_relu" else _t_backward(c, name)
    if c.chance(0.7):
        case["negative_slope"] = val(c.choice([0.01, 0.0, 0.2, 1.0]))
    return case


def _t_dropout(c, name):
    dt = c.choice(FLOAT_DTYPES)
    shape = _dims(c, c.int(1, 3))
    if name == "dropout_backward":
        return {0: arr(dt, shape), 1: arr(dt, shape, "binary"), "out": _out(c, dt, shape, c.choice([0, 1]))}
    case = {0: arr(dt, shape), 1: val(c.choice([0.5, 0.0, 0.2, 0.9])), 2: val(c.choice([0, 1, 12345, 2**63 - 1])),
            "out": _out(c, dt, shape, 0)}
    if c.chance(0.3):
        case["mask"] = arr(dt, shape)
    return case


def _t_batch_norm(c, name):
    dt = c.choice(FLOAT_DTYPES)
    shape = (c.int(1, 4), c.int(1, 3)) + _dims(c, c.int(0, 2), 1, 3)
    ch = (shape[1],)
    if name == "batch_norm_backward":
        need_dx = c.chance(0.8)
        case = {0: arr(dt, shape), 1: arr(dt, ch), 2: arr(dt, shape), 3: arr(dt, ch, "small"), 4: arr(dt, ch, "ge1"),
                "need_dx": val(need_dx)}
        for key, sh, wanted in (("dx", shape, need_dx), ("dgamma", ch, True), ("dbeta", ch, True)):
            if wanted and c.chance(0.3):
                case[key] = _out(c, dt, sh, 2 if key == "dx" else 1)
        return case
    case = {0: arr(dt, shape), 1: arr(dt, ch), 2: arr(dt, ch), 3: arr(dt, ch, "small"), 4: arr(dt, ch, "ge1"),
            "eps": val(c.choice([1e-5, 1e-3, 0.5]))}
    if name == "batch_norm_forward":
        case["momentum"] = val(c.choice([0.1, 0.0, 1.0, 0.5]))
        for key, sh in (("out", shape), ("mean", ch), ("invstd", ch)):
            if c.chance(0.3):
                case[key] = _out(c, dt, sh, 0)
    else:
        case["out"] = _out(c, dt, shape, 0)
    return case


def _t_softmax(c, name):
    dt = c.choice(FLOAT_DTYPES)
    shape = _dims(c, 2)
    if name == "softmax":
        return {0: arr(dt, shape, c.choice(["normal", "edge", "huge"])), "out": _out(c, dt, shape, 0)}
    return {0: arr(dt, shape, "unit"), 1: arr(dt, shape), "out": _out(c, dt, shape, c.choice([0, 1]))}


def _t_matmul(c, name):
    dt = c.choice(FLOAT_DTYPES)
    m, k, n = _dims(c, 3, 1, 5)
    ta, tb = c.chance(0.3), c.chance(0.3)
    beta = c.choice([0.0, 0.0, 1.0, 0.5])
    case = {0: arr(dt, (k, m) if ta else (m, k)), 1: arr(dt, (n, k) if tb else (k, n)),
            "trans_a": val(ta), "trans_b": val(tb), "alpha": val(c.choice([1.0, 2.0, -0.5])), "beta": val(beta)}
    case["out"] = arr(dt, (m, n)) if beta != 0 or c.chance(0.3) else val(None)
    return case


def _t_dense_forward(c, name):
    dt = c.choice(FLOAT_DTYPES)
    n, i, o = _dims(c, 3, 1, 5)
    return {0: arr(dt, (n, i)), 1: arr(dt, (i, o)), 2: arr(dt, (o,)) if c.chance(0.7) else val(None),
            "activation": val(c.choice(["none", "relu", "sigmoid", "tanh"])), "out": _out(c, dt, (n, o), 0)}


def _t_dense_backward(c, name):
    dt = c.choice(FLOAT_DTYPES)
    n, i, o = _dims(c, 3, 1, 5)
    need_dx, has_bias, acc = c.chance(0.7), c.chance(0.7), c.chance(0.3)
    case = {0: arr(dt, (n, i)), 1: arr(dt, (i, o)), 2: arr(dt, (n, o)),
            "need_dx": val(need_dx), "has_bias": val(has_bias), "accumulate": val(acc)}
    case["dw"] = arr(dt, (i, o)) if acc or c.chance(0.3) else val(None)
    case["db"] = arr(dt, (o,)) if has_bias and (acc or c.chance(0.3)) else val(None)
    case["dx"] = arr(dt, (n, i)) if need_dx and c.chance(0.3) else val(None)
    return case


def _t_dense_forward_fm(c, name):
    dt = c.choice(FLOAT_DTYPES)
    n, i, o = _dims(c, 3, 1, 5)
    i, o = min(i, 4), min(o, 8)  # narrow layers: wider ones are refused (a ValueError both sides)
    return {0: arr(dt, (i, n)), 1: arr(dt, (i, o)), 2: arr(dt, (o,)) if c.chance(0.7) else val(None),
            "activation": val(c.choice(["none", "relu", "sigmoid", "tanh"])), "out": _out(c, dt, (o, n), 0)}


def _t_dense_backward_fm(c, name):
    dt = c.choice(FLOAT_DTYPES)
    n, i, o = _dims(c, 3, 1, 5)
    i, o = min(i, 4), min(o, 8)
    act = c.choice(["none", "relu", "sigmoid", "tanh"])
    need_dx, has_bias = c.chance(0.7), c.chance(0.7)
    case = {0: arr(dt, (i, n)), 1: arr(dt, (i, o)), 2: arr(dt, (o, n)),
            3: val(None) if act == "none" else arr(dt, (o, n), "unit"), 4: val(act),
            "need_dx": val(need_dx), "has_bias": val(has_bias)}
    case["dw"] = arr(dt, (i, o)) if c.chance(0.3) else val(None)
    case["db"] = arr(dt, (o,)) if has_bias and c.chance(0.3) else val(None)
    case["dx"] = arr(dt, (i, n)) if need_dx and c.chance(0.3) else val(None)
    return case


def _t_pair_loss(c, name):
    dt = c.choice(FLOAT_DTYPES)
    shape = _dims(c, c.int(1, 3))
    xfill = {"bce_loss": "unit"}.get(name, c.choice(["normal", "huge"]))
    tfill = "normal" if name == "mse_loss" else c.choice(["unit", "binary"])
    case = {0: arr(dt, shape, xfill), 1: arr(dt, shape, tfill), "grad": _out(c, dt, shape, 0)}
    if name == "bce_loss":
        case["eps"] = val(c.choice([1e-7, 1e-3, 0.25]))
    return case


def _t_class_loss(c, name):
    dt = c.choice(FLOAT_DTYPES)
    n, k = _dims(c, 2, 1, 5)
    zfill = c.choice(["normal", "normal", "huge", "equal-huge"])
    if c.chance(0.6):
        target = arr(c.choice(LABEL_DTYPES), (n,), f"labels:{k}")
    else:
        target = arr(dt, (n, k), "onehot" if name == "multi_bce_loss" or c.chance(0.5) else "unit")
    return {0: arr(dt, (n, k), zfill), 1: target, "grad": _out(c, dt, (n, k), 0)}


def _t_sgd(c, name):
    dt = c.choice(FLOAT_DTYPES)
    shape = _dims(c, c.int(1, 2))
    mom = c.choice([0.0, 0.0, 0.9, 0.5])
    nesterov = mom > 0 and c.chance(0.3)
    return {0: arr(dt, shape), 1: arr(dt, shape), 2: arr(dt, shape) if mom else val(None),
            "lr": val(c.choice([0.1, 0.01, 1.0])), "momentum": val(mom),
            "dampening": val(0.0 if nesterov else c.choice([0.0, 0.1])),
            "weight_decay": val(c.choice([0.0, 0.0, 1e-3])), "nesterov": val(nesterov),
            "first_step": val(c.chance(0.3))}


def _t_rmsprop(c, name):
    dt = c.choice(FLOAT_DTYPES)
    shape = _dims(c, c.int(1, 2))
    mom, centered = c.choice([0.0, 0.0, 0.9]), c.chance(0.3)
    return {0: arr(dt, shape), 1: arr(dt, shape), 2: arr(dt, shape, "ge1"),
            "lr": val(c.choice([0.01, 0.1])), "alpha": val(c.choice([0.99, 0.9, 1.0] + ([] if centered else [0.0]))),
            "eps": val(c.choice([1e-8, 1e-3])), "weight_decay": val(c.choice([0.0, 1e-3])),
            "momentum": val(mom), "centered": val(centered),
            "momentum_buf": arr(dt, shape) if mom else val(None),
            "grad_avg": arr(dt, shape, "small") if centered else val(None)}


def _t_adam(c, name):
    dt = c.choice(FLOAT_DTYPES)
    shape = _dims(c, c.int(1, 2))
    return {0: arr(dt, shape), 1: arr(dt, shape), 2: arr(dt, shape, "small"), 3: arr(dt, shape, "ge1"),
            "step": val(c.choice([1, 2, 10, 1000])), "lr": val(c.choice([1e-3, 0.1])),
            "beta1": val(c.choice([0.9, 0.0, 0.5])), "beta2": val(c.choice([0.999, 0.9])),
            "eps": val(c.choice([1e-8, 1e-4])), "weight_decay": val(c.choice([0.0, 1e-2])),
            "decoupled_weight_decay": val(c.choice([0.0, 0.0, 1e-2, 0.5]))}


def _geometry(c, h, w, k):
    """(stride, padding) specs, valid for an h x w input and k x k kernel most of the time."""
    s = c.choice([1, 1, 2, 3, (1, 2), (2, 1)])
    p = c.choice([0, 0, 1, (0, 1)])
    if isinstance(p, int) and p > k[0] // 2:
        p = 0
    return s, p


def _t_conv(c, name):
    dt = c.choice(FLOAT_DTYPES)
    n, ci, co = c.int(1, 2), c.int(1, 3), c.int(1, 3)
    h, w = c.int(1, 6), c.int(1, 6)
    kh, kw = c.int(1, min(h, 3)), c.int(1, min(w, 3))
    s, p = _geometry(c, h, w, (kh, kw))
    sh, sw = (s, s) if isinstance(s, int) else s
    ph, pw = (p, p) if isinstance(p, int) else p
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    x, wt = arr(dt, (n, ci, h, w)), arr(dt, (co, ci, kh, kw))
    if name == "conv2d_forward":
        return {0: x, 1: wt, 2: arr(dt, (co,)) if c.chance(0.7) else val(None), 3: val(s), 4: val(p),
                "activation": val(c.choice(["none", "relu"])),
                "out": arr(dt, (n, co, ho, wo)) if c.chance(0.3) else val(None)}
    need_dx, has_bias = c.chance(0.8), c.chance(0.7)
    case = {0: x, 1: wt, 2: arr(dt, (n, co, ho, wo)), 3: val(s), 4: val(p),
            "need_dx": val(need_dx), "has_bias": val(has_bias)}
    for key, shape, wanted in (("dx", (n, ci, h, w), need_dx), ("dw", (co, ci, kh, kw), True),
                               ("db", (co,), has_bias)):
        if wanted and c.chance(0.3):
            case[key] = _out(c, dt, shape, 0 if key == "dx" else 1)
    return case


def _t_pool(c, name):
    dt = c.choice(FLOAT_DTYPES)
    n, ch, h, w = c.int(1, 2), c.int(1, 2), c.int(1, 6), c.int(1, 6)
    k = c.int(1, min(h, w, 3))
    s = c.choice([None, 1, 2, k])
    p = c.choice([0, 0, k // 2])
    sv = k if s is None else s
    ho, wo = (h + 2 * p - k) // sv + 1, (w + 2 * p - k) // sv + 1
    if name.endswith("forward"):
        case = {0: arr(dt, (n, ch, h, w), c.choice(["normal", "normal", "-inf-some"])), 1: val(k), 2: val(s),
                3: val(p), "out": _out(c, dt, (n, ch, ho, wo), 0)}
        if name == "max_pool2d_forward" and c.chance(0.3):
            case["argmax"] = arr("int64", (n, ch, ho, wo), "labels:1")
        return case
    if name == "avg_pool2d_backward":
        return {0: arr(dt, (n, ch, ho, wo)), 1: val((n, ch, h, w)), 2: val(k), 3: val(s), 4: val(p),
                "out": _out(c, dt, (n, ch, h, w), 0)}
    return {0: arr(dt, (n, ch, ho, wo)), 1: arr("int64", (n, ch, ho, wo), f"labels:{h * w}"), 2: val((n, ch, h, w)),
            "out": _out(c, dt, (n, ch, h, w), 0)}


TEMPLATES = {
    "sigmoid": _t_sigmoid, "tanh": _t_unary, "relu": _t_unary,
    "sigmoid_backward": _t_backward, "tanh_backward": _t_backward, "relu_backward": _t_backward,
    "leaky_relu": _t_leaky_relu, "leaky_relu_backward": _t_leaky_relu,
    "softmax": _t_softmax, "softmax_backward": _t_softmax,
    "matmul": _t_matmul, "dense_forward": _t_dense_forward, "dense_backward": _t_dense_backward,
    "dense_forward_fm": _t_dense_forward_fm, "dense_backward_fm": _t_dense_backward_fm,
    "mse_loss": _t_pair_loss, "bce_loss": _t_pair_loss, "bce_with_logits_loss": _t_pair_loss,
    "softmax_cross_entropy": _t_class_loss, "multi_bce_loss": _t_class_loss,
    "sgd_step": _t_sgd, "rmsprop_step": _t_rmsprop, "adam_step": _t_adam,
    "conv2d_forward": _t_conv, "conv2d_backward": _t_conv,
    "max_pool2d_forward": _t_pool, "avg_pool2d_forward": _t_pool,
    "max_pool2d_backward": _t_pool, "avg_pool2d_backward": _t_pool,
    "gather_rows": _t_gather, "count_correct": _t_count_correct,
    "dropout_forward": _t_dropout, "dropout_backward": _t_dropout,
    "batch_norm_forward": _t_batch_norm, "batch_norm_inference": _t_batch_norm, "batch_norm_backward": _t_batch_norm,
}


def _mutate(c, case):
    key = c.choice(list(case))
    spec = case[key]
    kind = c.int(0, 11)
    if spec[0] == "arr" and kind <= 8:
        _, dt, shape, fill, layout = spec
        if kind == 0:
            case[key] = arr(c.choice(BAD_DTYPES + FLOAT_DTYPES + LABEL_DTYPES), shape, fill, layout)
        elif kind == 1 and shape:
            i = c.int(0, len(shape) - 1)
            new = list(shape)
            new[i] = c.choice([0, 1, shape[i] + 1, max(shape[i] - 1, 0)])
            case[key] = arr(dt, new, fill, layout)
        elif kind == 2:
            new = list(shape) + [c.int(1, 2)] if c.chance(0.5) or not shape else list(shape[:-1])
            case[key] = arr(dt, new, fill, layout)
        elif kind == 3:
            case[key] = arr(dt, (c.choice([2 ** 32 + 1, 2 ** 40, 2 ** 31]),) + shape[1:], fill, "broadcast")
        elif kind in (4, 5):
            case[key] = arr(dt, shape, fill, c.choice(LAYOUTS))
        elif kind in (6, 7):
            case[key] = arr(dt, shape, c.choice(["nan", "inf", "-inf", "huge", "zeros", "edge"]), layout)
        else:
            others = [k for k in case if k != key and case[k][0] == "arr" and _order(k) < _order(key)]
            if others:
                case[key] = ("alias", c.choice(others), c.choice(["same", "shifted"]))
    elif spec[0] == "val" or kind > 8:
        case[key] = val(c.choice(WEIRD_SCALARS))
    return case


def _order(key):
    return key if isinstance(key, int) else 100


def draw_case(c, name=None, p_mutate=0.6):
    """(name, {key: spec}): positional keys are ints, keywords strings."""
    name = name or c.choice(sorted(TEMPLATES))
    case = TEMPLATES[name](c, name)
    if c.chance(p_mutate):
        for _ in range(c.int(1, 2)):
            case = _mutate(c, case)
    alpha = case.get("alpha", val(None))[1]
    if name == "rmsprop_step" and case.get("centered") == val(True) and isinstance(alpha, (int, float)) \
            and not isinstance(alpha, bool) and 0 <= alpha < 1e-3:
        # alpha ~ 0 makes square_avg - grad_avg^2 ~ g^2 - g^2, whose rounding decides sqrt's NaN (as in PyTorch)
        case["alpha"] = val(0.5)
    if c.chance(0.03):  # drop an argument or add an unknown keyword
        keys = [k for k in case if isinstance(k, int)]
        if keys and c.chance(0.5):
            del case[max(keys)]
        else:
            case["bogus"] = val(1)
    return name, case


# ---- materialisation

def _scalar(v):
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "scalar":
        return {"np.int64": lambda: np.int64(2), "np.float32": lambda: np.float32(0.5),
                "np.bool_": lambda: np.bool_(True), "np.uint64max": lambda: np.uint64(2 ** 64 - 1),
                "np.float16nan": lambda: np.float16("nan"), "arr1": lambda: np.array([1]),
                "arr1f": lambda: np.array([0.5]), "arr0": lambda: np.array(1), "arr0f": lambda: np.array(0.5),
                "BadIndex": BadIndex, "HugeIndex": HugeIndex, "LyingIndex": LyingIndex,
                "object": object}[v[1]]()
    return v


def _values(rng, dtype, n, fill):
    kind, _, arg = fill.partition(":")
    if kind == "labels":
        hi = max(int(arg), 1)
        v = rng.integers(0, hi, n)
        if n and rng.random() < 0.05:
            v[rng.integers(n)] = rng.choice([-1, hi])
        return v
    if kind == "onehot":
        v = np.zeros(n)
        v[:: max(1, int(math.sqrt(n)))] = 1
        return v
    big = 1e18 if dtype in ("float32", "<f4x") else 1e150
    table = {
        "normal": lambda: rng.standard_normal(n), "unit": lambda: rng.random(n),
        "binary": lambda: (rng.random(n) > 0.5).astype(float), "ge1": lambda: 1 + rng.random(n),
        "small": lambda: 0.5 * rng.random(n) - 0.25, "zeros": lambda: np.zeros(n),
        "huge": lambda: rng.choice([-1, 1], n) * big * rng.random(n),
        "equal-huge": lambda: np.full(n, rng.choice([1e12, 1e16, -1e16, 1e30 if dtype == "float32" else 1e300])),
        "edge": lambda: rng.choice([-1, 1], n) * rng.uniform(70, 90 if dtype == "float32" else 750, n),
    }
    if kind in table:
        return table[kind]()
    v = rng.standard_normal(n)
    special = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "-inf-some": -np.inf}[kind]
    if n:
        v[rng.integers(n)] = special
    return v


def _make_array(rng, spec, bases, key):
    _, dtype, shape, fill, layout = spec
    n = math.prod(shape) if layout != "broadcast" else 1
    if n > 10 ** 6:  # a huge shape only as a broadcast view: real memory would take the machine down
        raise ValueError("too large to build")
    values = _values(rng, dtype, n, fill)
    if dtype == "<f4x":
        dt = np.dtype("f4", metadata={"x": 1})
    else:
        dt = np.dtype(dtype)
    if layout == "broadcast":
        return np.broadcast_to(np.asarray(values[:1] if n else [0], dtype=dt)[0] if dt != object else
                               np.array(0.0, dtype=object), shape)
    with np.errstate(all="ignore"):
        flat = np.asarray(values).astype(dt) if dt != object else np.array(list(values) + [], dtype=object)
    if layout == "c" or layout in ("readonly", "matrix", "masked", "sub", "list", "0d"):
        base = np.empty(n + 1, dtype=dt)  # one element of slack for a shifted alias
        base[:n] = flat
        base[n] = 0.5 if dt.kind in "fcO" else 1  # the slack a shifted alias reads: the same in every copy
        a = base[:n].reshape(shape)
        bases[key] = (base, n)
        if layout == "readonly":
            a.flags.writeable = False
        elif layout == "matrix" and a.ndim == 2:
            a = np.matrix(a, copy=False)
        elif layout == "masked":
            a = np.ma.masked_array(a, mask=np.zeros(shape, bool))
        elif layout == "sub":
            a = a.view(Sub)
        elif layout == "list":
            a = a.tolist()
        elif layout == "0d":
            a = a.reshape(-1)[0] if n else dt.type(0) if dt != object else 0.0
        return a
    if layout == "strided":  # every other element of a buffer: real memory, not contiguous
        big = np.empty((max(n, 1), 2), dtype=dt)
        big[:n, 0] = flat
        return np.lib.stride_tricks.as_strided(big[:, 0], shape, _c_strides(shape, 2 * dt.itemsize))
    if layout == "fortran":
        return np.asfortranarray(flat.reshape(shape))
    if layout == "unaligned":
        raw = np.zeros(n * dt.itemsize + 1, np.uint8)
        a = np.ndarray(shape, dt, buffer=raw, offset=1)
        if dt != object:
            a[...] = flat.reshape(shape)
            return a
        return flat.reshape(shape)
    raise AssertionError(layout)


def _c_strides(shape, item):
    strides, s = [], item
    for d in reversed(shape):
        strides.append(s)
        s *= max(d, 1)
    return tuple(reversed(strides))


def materialise(case, seed):
    """(args, kwargs) with fresh arrays; the same seed gives the same contents."""
    rng = np.random.default_rng(seed)
    made, bases = {}, {}
    for key in sorted(case, key=lambda k: (_order(k), str(k))):
        spec = case[key]
        if spec[0] == "val":
            made[key] = _scalar(spec[1])
        elif spec[0] == "arr":
            try:
                made[key] = _make_array(rng, spec, bases, key)
            except (ValueError, TypeError, MemoryError, OverflowError):
                made[key] = None  # a spec that cannot be built (e.g. a complex NaN into int) is None
        else:
            _, target, mode = spec
            a = made.get(target)
            if not isinstance(a, np.ndarray) or target not in bases:
                made[key] = a
            elif mode == "same":
                made[key] = a
            else:
                base, n = bases[target]
                made[key] = base[1:n + 1].reshape(np.shape(a))
    pos = [made[k] for k in sorted(k for k in made if isinstance(k, int))]
    kw = {k: v for k, v in made.items() if not isinstance(k, int)}
    return pos, kw


# ---- running one case

def _segfault():
    import ctypes
    ctypes.string_at(0)


SELF_TESTS = {"__crash__": _segfault, "__hang__": lambda: time.sleep(3600)}

OK_EXC = (TypeError, ValueError)


def _arrays_in(pos, kw):
    out = []
    for v in list(pos) + list(kw.values()):
        if isinstance(v, np.ndarray) and v.dtype != object and v.flags.writeable and v.size < 10 ** 6:
            out.append(v)
    return out


def _snapshot(arrays):
    return [np.array(a, copy=True) for a in arrays]


def _same_bits(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def _tolerance(dtype):
    return 2e-4 if dtype == np.float32 else 1e-9


def _close(got, want):
    """None when equal within the documented tolerance, else a description."""
    if isinstance(want, tuple):
        if not isinstance(got, tuple) or len(got) != len(want):
            return f"structure {type(got)} vs {type(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            why = _close(g, w)
            if why:
                return f"[{i}] {why}"
        return None
    if want is None or got is None:
        return None if got is want else f"{got!r} vs {want!r}"
    if isinstance(want, float) or isinstance(got, float):
        g, w = np.float64(got), np.float64(want)
        if not (np.isfinite(g) and np.isfinite(w)):
            return None if not (np.isfinite(g) or np.isfinite(w)) else f"{g} vs {w}"
        tol = 1e-6 * max(1.0, abs(w))
        return None if abs(g - w) <= tol else f"{g} vs {w}"
    g, w = np.asarray(got), np.asarray(want)
    if g.shape != w.shape or g.dtype != w.dtype:
        return f"shape/dtype {g.shape} {g.dtype} vs {w.shape} {w.dtype}"
    if w.dtype.kind != "f":
        return None if np.array_equal(g, w) else "integer arrays differ"
    fin = np.isfinite(w)
    if not np.array_equal(fin, np.isfinite(g)):
        return "NaN or inf in different places"
    fin = np.isfinite(w)
    if not fin.any():
        return None
    tol = _tolerance(w.dtype)
    scale = max(1.0, float(np.abs(w[fin]).max()))
    err = float(np.abs(g[fin].astype(np.float64) - w[fin]).max())
    return None if err <= tol * scale else f"max error {err:.3g} > {tol * scale:.3g}"


def _call(fn, pos, kw):
    try:
        return fn(*pos, **kw), None
    except BaseException as e:  # noqa: BLE001 -- classified by the caller
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return None, e


def run_case(name, case, seed, K, R):
    """(outcome, detail) of one case: see the module docstring for the classes."""
    if name in SELF_TESTS:  # the driver's own test: a real segfault and a real hang
        SELF_TESTS[name]()
    pos_c, kw_c = materialise(case, seed)
    pos_r, kw_r = materialise(case, seed)
    arrays = _arrays_in(pos_c, kw_c)
    before = _snapshot(arrays)
    got, err_c = _call(getattr(K, name), pos_c, kw_c)
    want, err_r = _call(getattr(R, name), pos_r, kw_r)
    if err_c is not None:
        if not isinstance(err_c, OK_EXC + (MemoryError,)):
            return "bad-exception", f"{type(err_c).__name__}: {err_c}"
        for a, b in zip(arrays, before):
            if not _same_bits(a, b):
                return "write-before-raise", f"{type(err_c).__name__}: {err_c}"
        if isinstance(err_c, MemoryError):
            return ("MemoryError", None) if err_r is None or isinstance(err_r, (MemoryError, ValueError)) else \
                ("mismatch", f"C++ MemoryError, reference {type(err_r).__name__}: {err_r}")
        if err_r is None:
            return "mismatch", f"C++ raised {type(err_c).__name__}: {err_c}; the reference succeeded"
        if type(err_r) is not type(err_c):
            return "mismatch", (f"C++ raised {type(err_c).__name__}: {err_c}; the reference "
                                f"{type(err_r).__name__}: {err_r}")
        return type(err_c).__name__, None
    if err_r is not None:
        return "mismatch", f"C++ succeeded; the reference raised {type(err_r).__name__}: {err_r}"
    why = _close(got, want)
    if why is None:
        for a_c, a_r in zip(_arrays_in(pos_c, kw_c), _arrays_in(pos_r, kw_r)):
            why = _close(a_c, a_r)
            if why:
                why = "in-place argument: " + why
                break
    if why is None:
        return "ok-matched", None
    results = [got, want] + _arrays_in(pos_c, kw_c) + _arrays_in(pos_r, kw_r)
    if _extreme(case) and any(_overflowed(r) for r in results):
        return "ok-overflow", why
    return "mismatch", why


EXTREME_FILLS = {"huge", "equal-huge", "edge", "inf", "-inf", "-inf-some"}


def _extreme(case):
    """Whether the case holds values near the float range (a scalar of magnitude >= 1e6, huge or inf
    contents), so that an overflow in either backend's intermediate values is expected."""
    for spec in case.values():
        if spec[0] == "arr" and spec[3] in EXTREME_FILLS:
            return True
        v = _scalar(spec[1]) if spec[0] == "val" else None
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
                and not abs(float(v)) < 1e6:
            return True
    return False


def _overflowed(v):
    """Whether a result holds NaN/inf: from an inf input (accepted by activations, dense, conv, pooling)
    or an overflow. Whether such a value ends up NaN, inf or even finite (inf - inf against
    an FMA that never rounds the product) depends on the order of operations in either backend."""
    if isinstance(v, tuple):
        return any(_overflowed(x) for x in v)
    if isinstance(v, float):
        return not math.isfinite(v)
    return isinstance(v, np.ndarray) and v.dtype.kind == "f" and not np.isfinite(v).all()


# ---- crash-isolated driver

OUTCOMES = ["ok-matched", "ok-overflow", "TypeError", "ValueError", "MemoryError", "mismatch", "bad-exception", "crash", "hang",
            "write-before-raise"]
FAILURES = {"mismatch", "bad-exception", "crash", "hang", "write-before-raise"}


def _worker(conn, current):
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    from pydl import kernels as K
    from pydl import reference as R
    import warnings
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")  # overflow in the reference's arithmetic is expected, and compared
    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            return
        kind, payload = job
        results = []
        if kind == "cases":  # explicit cases: [(name, case, seed), ...]
            for i, (name, case, seed) in enumerate(payload):
                current.value = i
                results.append(run_case(name, case, seed, K, R))
        else:  # ("random", (seed, start, count, names)): case i from Chooser((seed, i))
            seed, start, count, names = payload
            for i in range(start, start + count):
                current.value = i
                name, case = draw_case(Chooser((seed, i)), names[i % len(names)] if names else None)
                results.append(run_case(name, case, (seed, i), K, R))
        conn.send(results)


class Runner:
    """Runs batches of cases in a worker process; a segfault or a hang becomes an outcome, not a dead run."""

    def __init__(self, timeout=60.0):
        self.timeout = timeout
        self.ctx = mp.get_context("spawn")
        self.proc = None

    def _start(self):
        self.current = self.ctx.Value("q", -1, lock=False)
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child, self.current), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(120) or self.conn.recv() != "ready":
            raise RuntimeError("fuzz worker did not start")

    def close(self):
        if self.proc is not None and self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.kill()
        self.proc = None

    def _run(self, job, count):
        """Results of the job's cases; on a crash/hang, (results so far, (outcome, index))."""
        if self.proc is None or not self.proc.is_alive():
            self._start()
        self.current.value = -1
        self.conn.send(job)
        deadline = time.monotonic() + self.timeout + 0.01 * count
        hung = True
        while time.monotonic() < deadline:
            if self.conn.poll(0.2):
                try:
                    return self.conn.recv(), None
                except EOFError:  # the worker died
                    hung = False
                    break
            if not self.proc.is_alive():
                hung = False
                break
        index = self.current.value
        if hung:
            self.proc.kill()
        self.proc.join()
        code = self.proc.exitcode
        self.proc = None
        return None, ("hang" if hung else "crash", index, code)

    def run_cases(self, cases):
        """[(outcome, detail)] for explicit (name, case, seed) triples."""
        out, todo = [], list(cases)
        while todo:
            results, failure = self._run(("cases", todo), len(todo))
            if failure is None:
                return out + results
            outcome, index, code = failure
            index = max(index, 0)
            # Cases before the failing one ran but their results died with the worker: run them again.
            out += self.run_cases(todo[:index]) if index else []
            out.append((outcome, f"exit code {code}"))
            todo = todo[index + 1:]
        return out

    def run_random(self, seed, start, count, names=None):
        """(counts by outcome, [(outcome, detail, name, case, (seed, i))] failures) of random cases."""
        counts = dict.fromkeys(OUTCOMES, 0)
        failures = []
        i, end = start, start + count
        while i < end:
            results, failure = self._run(("random", (seed, i, end - i, names)), end - i)
            done = results if failure is None else None
            if done is None:
                outcome, index, code = failure
                index = index if index >= i else i
                if index > i:  # rerun the cases before the failing one for their outcomes
                    sub_counts, sub_fail = self.run_random(seed, i, index - i, names)
                    for k, v in sub_counts.items():
                        counts[k] += v
                    failures += sub_fail
                name, case = draw_case(Chooser((seed, index)), names[index % len(names)] if names else None)
                counts[outcome] += 1
                failures.append((outcome, f"exit code {code}", name, case, (seed, index)))
                i = index + 1
                continue
            for j, (outcome, detail) in enumerate(done):
                counts[outcome] += 1
                if outcome in FAILURES:
                    name, case = draw_case(Chooser((seed, i + j)), names[(i + j) % len(names)] if names else None)
                    failures.append((outcome, detail, name, case, (seed, i + j)))
            i = end
        return counts, failures


def describe_case(name, case, seed):
    pos = [case[k] for k in sorted(k for k in case if isinstance(k, int))]
    kw = {k: v for k, v in case.items() if not isinstance(k, int)}
    return f"{name}(*{pos!r}, **{kw!r}) materialised with seed {seed!r}"


def reproduce(name, case, seed):
    """Runs one case in this process (for debugging a reported failure)."""
    from pydl import kernels as K
    from pydl import reference as R
    with np.errstate(all="ignore"):
        return run_case(name, case, seed, K, R)


if __name__ == "__main__":  # quick smoke run: python tests/kernels/fuzz/kernel_fuzz.py [count]
    import sys
    r = Runner()
    t0 = time.time()
    counts, fails = r.run_random(0, 0, int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
    r.close()
    print(counts, f"{time.time() - t0:.1f}s")
    for f in fails[:20]:
        print(f[0], f[1], describe_case(*f[2:]))
