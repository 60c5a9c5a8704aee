"""Property-based fuzzing of the Network API as a careless or hostile user would call it.

Each case builds a network from drawn layers, loss, optimizer and hyper-parameters (valid ones mixed with
NaN, inf, huge, negative and wrongly typed values), then calls fit/evaluate/predict/train_step/save+load
with drawn data and arguments. A case passes when the call either succeeds with finite results (and,
for predictions, agrees with the NumPy reference backend) or raises TypeError/ValueError (MemoryError
only for genuinely huge requests) without having changed the network (divergence excepted: it keeps the
last finite step, by design).

Run as a worker process (``python tests/api/fuzz_api.py SEED COUNT LOG``) so that a crash ends only the
worker: the parent test reads the case written to LOG before each call. The worker prints one JSON line
of outcome counts.
"""
import collections
import json
import math
import os
import sys
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings, seed as hypothesis_seed, strategies as st

import pydl
from pydl import nn, optim
from pydl.training import DivergenceError

WEIRD_NUMBERS = [float("nan"), float("inf"), -float("inf"), 1e308, -1.0, 0.0, 10**400, -(10**30), 2**63, "0.1",
                 None, [0.1], True, np.float64("nan"), np.array([1.0, 2.0])]


def mostly(valid, hostile, one_in=25):
    """``valid`` values, and one draw in ``one_in`` from ``hostile``: most cases get past construction."""
    return st.integers(0, one_in - 1).flatmap(lambda k: hostile if k == 0 else valid)


def number(low, high):
    """Mostly a valid float in [low, high], sometimes something hostile."""
    return mostly(st.floats(low, high, allow_nan=False), st.sampled_from(WEIRD_NUMBERS))


def count(low, high):
    return mostly(st.integers(low, high), st.sampled_from([0, -3, 2**62, 10**30, 2.5, "4", None, True,
                                                           np.int64(3), np.array([2])]))


@st.composite
def layers_and_shape(draw):
    """(layer factories, per-sample input shape) for an MLP or a small CNN."""
    if draw(st.booleans()):
        width = draw(count(1, 6))
        shape = (width if isinstance(width, int) and 1 <= width <= 6 else 3,)
        specs = []
        features = width
        for _ in range(draw(st.integers(1, 3))):
            out = draw(count(1, 6))
            act = draw(mostly(st.sampled_from([None, "relu", "sigmoid", "tanh"]), st.just("bogus")))
            specs.append(("Dense", (features, out), {"activation": act}))
            features = out
            if draw(st.booleans()):
                name = draw(st.sampled_from(["ReLU", "Tanh", "Sigmoid", "Softmax", "LeakyReLU", "Dropout",
                                             "BatchNorm1d"]))
                args = (out,) if name == "BatchNorm1d" else ()
                kwargs = {"p": draw(number(0, 0.9))} if name == "Dropout" else {}
                specs.append((name, args, kwargs))
        return specs, shape
    channels, size = draw(st.integers(1, 2)), draw(st.integers(3, 7))
    out, k, stride, pad = draw(st.integers(1, 3)), draw(count(1, 3)), draw(count(1, 3)), draw(count(0, 2))
    act = draw(mostly(st.sampled_from([None, "relu"]), st.just("bogus")))
    specs = [("Conv2D", (channels, out, k), {"stride": stride, "padding": pad, "activation": act}), ("ReLU", (), {})]
    if draw(st.booleans()):
        specs.insert(1, ("BatchNorm2d", (out,), {}))
    valid = all(type(v) is int and v >= 0 for v in (k, stride, pad)) and k > 0 and stride > 0
    side = max((size + 2 * pad - k) // stride + 1, 1) if valid else 1
    if draw(st.booleans()):
        pk, pp = draw(count(1, 2)), draw(count(0, 1))
        specs.append((draw(st.sampled_from(["MaxPool2D", "AvgPool2D"])), (pk,), {"padding": pp}))
        if type(pk) is int and type(pp) is int and pk > 0 and pp >= 0:
            side = max((side + 2 * pp - pk) // pk + 1, 1)
    flat = draw(mostly(st.just(max(out * side * side, 1)), st.integers(1, 60)))
    specs += [("Flatten", (), {}), ("Dense", (flat, draw(st.integers(1, 4))), {})]
    return specs, (channels, size, size)


OPTIMIZERS = {
    "SGD": lambda d: dict(lr=d(number(1e-4, 2.0)), momentum=d(number(0, 0.99)), weight_decay=d(number(0, 0.1)),
                          nesterov=d(st.booleans())),
    "Adam": lambda d: dict(lr=d(number(1e-4, 1.0)), betas=(d(number(0, 0.99)), d(number(0, 0.999))),
                           eps=d(number(1e-10, 1e-6)), weight_decay=d(number(0, 0.1))),
    "AdamW": lambda d: dict(lr=d(number(1e-4, 1.0)), betas=(d(number(0, 0.99)), d(number(0, 0.999))),
                            eps=d(number(1e-10, 1e-6)), weight_decay=d(number(0, 0.1))),
    "RMSprop": lambda d: dict(lr=d(number(1e-4, 1.0)), alpha=d(number(0.5, 0.999)), momentum=d(number(0, 0.9)),
                              centered=d(st.booleans()), weight_decay=d(number(0, 0.1))),
}
LOSSES = ["mse", "bce", "bce_with_logits", "cross_entropy", "multi_bce", "categorical_crossentropy", "hinge", 3]


@st.composite
def case(draw):
    specs, shape = draw(layers_and_shape())
    loss = draw(mostly(st.sampled_from(LOSSES[:5]), st.sampled_from(LOSSES)))
    if draw(st.integers(0, 3)):  # mostly a last layer that suits the loss, so that training gets exercised
        last_name, _, last_kwargs = specs[-1]
        if loss == "bce" and last_name not in ("Sigmoid", "Softmax") and last_kwargs.get("activation") != "sigmoid":
            specs = specs + [("Sigmoid", (), {})]
        elif loss in ("bce_with_logits", "cross_entropy", "multi_bce"):
            if last_name in ("Sigmoid", "Softmax"):
                specs = specs[:-1]
            specs[-1][2].pop("activation", None)
    opt_name = draw(st.sampled_from(sorted(OPTIMIZERS)))
    n = draw(st.integers(1, 24))
    x_kind = draw(mostly(st.sampled_from(["float64", "float32", "int64", "bool", "list", "huge"]),
                         st.sampled_from(["complex", "object", "nan", "inf", "wrong_shape"]), one_in=6))
    y_kind = draw(mostly(st.sampled_from(["labels", "float01", "onehot", "matrix"]),
                         st.sampled_from(["nan", "wrong_length", "negative", "huge_label", "strings"]), one_in=6))
    call = draw(st.sampled_from(["fit", "fit", "fit", "evaluate", "predict", "predict_proba", "train_step", "save"]))
    fit_kwargs = dict(
        epochs=draw(mostly(st.integers(0, 3), st.sampled_from([-1, 2.5, "2", None, True]))),
        batch_size=draw(mostly(st.one_of(st.sampled_from([None, "full", 10**20]), st.integers(1, 30)),
                               st.sampled_from([0, -4, 1.5, "32", True]))),
        shuffle=draw(st.booleans()),
        verbose=draw(mostly(st.sampled_from([0, 0, 0, 2, None]), st.sampled_from([3, "yes", -1]))),
        validation_split=draw(mostly(st.sampled_from([0.0, 0.0, 0.25]), st.sampled_from([float("nan"), 1.0, -0.5,
                                                                                         0.99, "0.2"]))),
        seed=draw(mostly(st.one_of(st.none(), st.integers(0, 2**32)), st.sampled_from([-1, 2**70, 1.5, "s"]))),
    )
    return dict(specs=specs, shape=shape, loss=loss, opt=opt_name,
                opt_kwargs=OPTIMIZERS[opt_name](draw), l2=draw(number(0, 0.1)),
                dtype=draw(st.sampled_from(["float32", "float64"])), n=n, x_kind=x_kind, y_kind=y_kind,
                call=call, fit_kwargs=fit_kwargs, data_seed=draw(st.integers(0, 2**16)))


def make_data(c, out_width):
    rng = np.random.default_rng(c["data_seed"])
    n, shape = c["n"], c["shape"]
    x = rng.normal(size=(n,) + shape)
    kind = c["x_kind"]
    x = {"float32": lambda: x.astype(np.float32), "int64": lambda: (x * 3).astype(np.int64),
         "bool": lambda: x > 0, "complex": lambda: x + 1j, "object": lambda: x.astype(object),
         "nan": lambda: np.where(x > 1.5, np.nan, x), "inf": lambda: np.where(x > 1.5, np.inf, x),
         "wrong_shape": lambda: x.reshape(n, -1)[:, :-1] if x.size // n > 1 else x[:, None],
         "list": lambda: x.tolist(), "huge": lambda: x * 1e300}.get(kind, lambda: x)()
    classes = max(out_width, 2)
    labels = rng.integers(0, classes, n)
    y = {"labels": labels, "float01": (labels % 2).astype(np.float64),
         "onehot": np.eye(classes)[labels][:, :out_width] if out_width > 1 else (labels % 2)[:, None],
         "nan": np.full(n, np.nan), "wrong_length": labels[:-1], "negative": -labels - 1,
         "huge_label": labels + 2**40, "strings": labels.astype(str), "matrix": np.asmatrix(labels % 2).T}
    return x, y[c["y_kind"]]


def build(c):
    layers = []
    for name, args, kwargs in c["specs"]:
        layers.append(getattr(nn, name)(*args, **kwargs))
    opt = getattr(optim, c["opt"])(**c["opt_kwargs"])
    return pydl.Network(layers, loss=c["loss"], optimizer=opt, l2=c["l2"], dtype=c["dtype"], seed=0)


def snapshot(net):
    return [p.data.copy() for p in net.parameters()], net.optimizer.steps


def unchanged(net, snap):
    return net.optimizer.steps == snap[1] and all(
        np.array_equal(p.data, s, equal_nan=True) for p, s in zip(net.parameters(), snap[0]))


class Failure(AssertionError):
    pass


ACCEPTED = (TypeError, ValueError)


def run_case(c, counts):
    """Run one case; count its outcome class; raise Failure for a bad outcome."""
    try:
        net = build(c)
    except ACCEPTED as e:
        counts["construct:" + type(e).__name__] += 1
        return
    except MemoryError:
        counts["construct:MemoryError"] += 1
        return
    try:
        out_width = int(np.prod(net._output_shape(c["shape"], "fuzz")))
    except ValueError:  # the layers don't fit the input: every call below must say so
        out_width = 1
    x, y = make_data(c, out_width)
    snap = snapshot(net)
    try:
        result = call(net, c, x, y)
    except DivergenceError:
        counts["diverged"] += 1
        if not all(np.isfinite(p.data).all() for p in net.parameters()):
            raise Failure("DivergenceError left non-finite weights")
        return
    except ACCEPTED as e:
        counts[type(e).__name__] += 1
        if not unchanged(net, snap):
            raise Failure(f"{type(e).__name__} raised after the network changed: {e}")
        return
    except MemoryError:
        counts["MemoryError"] += 1
        return
    except Exception as e:
        raise Failure(f"unexpected {type(e).__name__}: {e}") from e
    check_result(net, c, x, result)
    counts["ok:" + c["call"]] += 1


def call(net, c, x, y):
    kind = c["call"]
    if kind == "fit":
        return net.fit(x, y, **c["fit_kwargs"])
    if kind == "evaluate":
        return net.evaluate(x, y)
    if kind in ("predict", "predict_proba"):
        return getattr(net, kind)(x)
    if kind == "train_step":
        return net.train_step(x, y)
    with tempfile.TemporaryDirectory() as d:
        net.save(os.path.join(d, "net.npz"))
        loaded = pydl.load(os.path.join(d, "net.npz"))
        return loaded.predict_proba(x)


def check_result(net, c, x, result):
    params_finite = all(np.isfinite(p.data).all() for p in net.parameters())
    if not params_finite:
        raise Failure(f"{c['call']} succeeded but left non-finite parameters")
    if c["call"] == "fit":
        for key, values in result.history.items():
            if not all(math.isfinite(v) for v in values):
                raise Failure(f"fit succeeded with a non-finite {key} in History: {values}")
    elif c["call"] == "evaluate":
        if not all(math.isfinite(v) for v in result.values()):
            raise Failure(f"evaluate returned non-finite values {result}")
    elif c["call"] == "train_step":
        if not math.isfinite(result):
            raise Failure(f"train_step returned a non-finite loss {result}")
    if c["call"] in ("predict", "predict_proba", "save") and not np.isfinite(np.asarray(result, float)).all():
        raise Failure(f"{c['call']} returned non-finite values")
    if c["call"] in ("predict_proba", "save"):
        ref = net.copy()
        ref_layers_backend(ref)
        expected = ref.predict_proba(x)
        tol = 1e-4 if net.dtype == np.float32 else 1e-10
        if not np.allclose(result, expected, rtol=tol, atol=tol):
            raise Failure(f"predict_proba differs from the NumPy reference by {np.max(np.abs(result - expected))}")


def ref_layers_backend(net):
    net.backend = "numpy"
    for layer in net.layers:
        layer.backend = "numpy"
    net.loss.backend = "numpy"


def main(seed, count_, log_path):
    counts = collections.Counter()
    log = open(log_path, "w")

    @settings(max_examples=count_, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case())
    def fuzz(c):
        log.seek(0)
        log.write(repr(c) + "\n")
        log.truncate()
        log.flush()
        run_case(c, counts)

    hypothesis_seed(seed)(fuzz)()
    counts["cases"] = sum(v for k, v in counts.items())
    print(json.dumps(dict(counts)))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
