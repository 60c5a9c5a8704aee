"""Matrix product and the fully connected layer; w is stored (in_features, out_features): y = x @ w + b."""
import numpy as np

from ._checks import (ACTIVATIONS, activation_arg, bool_arg, fits_dtype, float_arg, float_input, no_overlap, output,
                      reject_nan, same_dtype, str_arg)

__all__ = ["dense_backward", "dense_backward_fm", "dense_forward", "dense_forward_fm", "matmul"]

# Narrow layers, the only ones the feature-major kernels take (csrc/dense.h: is_narrow).
NARROW_IN, NARROW_OUT = 4, 8


def _sigmoid(z):
    e = np.exp(-np.abs(z))  # in (0, 1]: no overflow for any z
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


FUSED = dict(zip(ACTIVATIONS, (lambda z: z, lambda z: np.maximum(z, 0), _sigmoid, np.tanh)))
# Derivatives from the forward output y, times dy.
_GRADS = {"relu": lambda y, dy: np.where(y > 0, dy, 0), "sigmoid": lambda y, dy: dy * y * (1 - y),
          "tanh": lambda y, dy: dy * (1 - y * y)}


def _dim_and_any(d, first):
    return f"({d}, ?)" if first else f"(?, {d})"


def matmul(a, b, out=None, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
    """out = alpha * op(a) @ op(b) + beta * out, op(a) = a.T when trans_a (likewise b); beta == 0 ignores out."""
    fn = "matmul"
    trans_a, trans_b = bool_arg(fn, "trans_a", trans_a), bool_arg(fn, "trans_b", trans_b)
    alpha, beta = float_arg(fn, "alpha", alpha), float_arg(fn, "beta", beta)
    a = float_input(fn, "a", a, ndim=2)
    b = float_input(fn, "b", b, ndim=2)
    same_dtype(fn, "b", b, "a", a)
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    if opb.shape[0] != opa.shape[1]:
        raise ValueError(f"{fn}: b must have shape {_dim_and_any(opa.shape[1], not trans_b)}"
                         f"{' (trans_b=True)' if trans_b else ''} to match a {a.shape}"
                         f"{' (trans_a=True)' if trans_a else ''}, got {b.shape}")
    if beta != 0 and out is None:
        raise ValueError(f"{fn}: beta={beta} adds to out, so out must be given")
    fits_dtype(fn, "alpha", alpha, a)
    fits_dtype(fn, "beta", beta, a)
    out = output(fn, "out", out, (opa.shape[0], opb.shape[1]), a)
    no_overlap(fn, "out", out, "a", a)
    no_overlap(fn, "out", out, "b", b)
    reject_nan(fn, "a", a)
    reject_nan(fn, "b", b)
    product = alpha * (opa @ opb)
    if beta != 0:
        reject_nan(fn, "out", out)
        product += beta * out
    out[...] = product
    return out


def _dense_dims(fn, x, w):
    x = float_input(fn, "x", x, ndim=2)
    w = float_input(fn, "w", w, ndim=2)
    same_dtype(fn, "w", w, "x", x)
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"{fn}: w must have shape ({x.shape[1]}, ?) to match x {x.shape}, got {w.shape}")
    return x, w, (x.shape[0], x.shape[1], w.shape[1])


def dense_forward(x, w, b=None, activation="none", out=None):
    """activation(x @ w + b) for x (N, in), w (in, out), b (out,) or None."""
    fn = "dense_forward"
    activation = str_arg(fn, "activation", activation)
    x, w, (n, _, n_out) = _dense_dims(fn, x, w)
    if b is not None:
        b = float_input(fn, "b", b)
        same_dtype(fn, "b", b, "x", x)
        if b.shape != (n_out,):
            raise ValueError(f"{fn}: b must have shape ({n_out},) to match w {w.shape}, got {b.shape}")
    activation_arg(fn, activation, 4)
    out = output(fn, "out", out, (n, n_out), x)
    inputs = (("x", x), ("w", w)) + ((("b", b),) if b is not None else ())
    for name, a in inputs:
        no_overlap(fn, "out", out, name, a)
    for name, a in inputs:
        reject_nan(fn, name, a)
    z = x @ w
    if b is not None:
        z += b
    out[...] = FUSED[activation](z)
    return out


def dense_backward(x, w, dy, *, dx=None, dw=None, db=None, need_dx=True, has_bias=True, accumulate=False):
    """(dx, dw, db) of y = x @ w + b given dy: dx = dy @ w.T, dw = x.T @ dy, db = dy.sum(axis=0).

    dx is None when need_dx is False, db None when has_bias is False; accumulate adds into dw and db.
    """
    fn = "dense_backward"
    need_dx, has_bias = bool_arg(fn, "need_dx", need_dx), bool_arg(fn, "has_bias", has_bias)
    accumulate = bool_arg(fn, "accumulate", accumulate)
    x, w, (n, n_in, n_out) = _dense_dims(fn, x, w)
    dy = float_input(fn, "dy", dy, ndim=2)
    same_dtype(fn, "dy", dy, "x", x)
    if dy.shape != (n, n_out):
        raise ValueError(f"{fn}: dy must have shape {(n, n_out)} to match x {x.shape} and w {w.shape}, "
                         f"got {dy.shape}")
    if not need_dx and dx is not None:
        raise ValueError(f"{fn}: dx was given but need_dx=False")
    if not has_bias and db is not None:
        raise ValueError(f"{fn}: db was given but has_bias=False")
    if accumulate and (dw is None or (has_bias and db is None)):
        raise ValueError(f"{fn}: accumulate=True adds into dw{' and db' if has_bias else ''}, so they must be given")
    outs = [("dw", output(fn, "dw", dw, (n_in, n_out), x))]
    if has_bias:
        outs.append(("db", output(fn, "db", db, (n_out,), x)))
    if need_dx:
        outs.append(("dx", output(fn, "dx", dx, (n, n_in), x)))
    for i, (name, o) in enumerate(outs):
        for src_name, src in (("x", x), ("w", w), ("dy", dy)) + tuple(outs[:i]):
            no_overlap(fn, name, o, src_name, src)
    for name, a in (("x", x), ("w", w), ("dy", dy)):
        reject_nan(fn, name, a)
    grads = dict(outs)
    if accumulate:  # dw and db are inputs too then
        reject_nan(fn, "dw", grads["dw"])
        if has_bias:
            reject_nan(fn, "db", grads["db"])
    if accumulate:
        grads["dw"] += x.T @ dy
    else:
        grads["dw"][...] = x.T @ dy
    if has_bias:
        sums = dy.sum(axis=0, dtype=np.float64)
        grads["db"][...] = sums + grads["db"] if accumulate else sums
    if need_dx:
        grads["dx"][...] = dy @ w.T
    return grads.get("dx"), grads["dw"], grads.get("db")


# ---- narrow layers, feature-major: activations stored (features, N) -------------------------------------

def _fm_dims(fn, x, w):
    x = float_input(fn, "x", x, ndim=2)
    w = float_input(fn, "w", w, ndim=2)
    same_dtype(fn, "w", w, "x", x)
    if w.shape[0] != x.shape[0]:
        raise ValueError(f"{fn}: w must have shape ({x.shape[0]}, ?) to match x {x.shape}, got {w.shape}")
    if w.shape[0] > NARROW_IN or w.shape[1] > NARROW_OUT:
        raise ValueError(f"{fn}: narrow layers only: w must have at most {NARROW_IN} rows and {NARROW_OUT} columns, "
                         f"got {w.shape}")
    return x, w, (x.shape[1], w.shape[0], w.shape[1])


def dense_forward_fm(x, w, b=None, activation="none", out=None):
    """dense_forward in feature-major layout for a narrow layer: activation(w.T @ x + b[:, None]) for
    x (in, N), w (in, out) with in <= 4 and out <= 8; out (out, N). The same bits as dense_forward on the
    transposes."""
    fn = "dense_forward_fm"
    activation = str_arg(fn, "activation", activation)
    x, w, (n, _, n_out) = _fm_dims(fn, x, w)
    if b is not None:
        b = float_input(fn, "b", b)
        same_dtype(fn, "b", b, "x", x)
        if b.shape != (n_out,):
            raise ValueError(f"{fn}: b must have shape ({n_out},) to match w {w.shape}, got {b.shape}")
    activation_arg(fn, activation, 4)
    out = output(fn, "out", out, (n_out, n), x)
    inputs = (("x", x), ("w", w)) + ((("b", b),) if b is not None else ())
    for name, a in inputs:
        no_overlap(fn, "out", out, name, a)
    for name, a in inputs:
        reject_nan(fn, name, a)
    z = w.T @ x
    if b is not None:
        z += b[:, None]
    out[...] = FUSED[activation](z)
    return out


def dense_backward_fm(x, w, dy, y=None, activation="none", *, dx=None, dw=None, db=None, need_dx=True,
                      has_bias=True):
    """dense_backward in feature-major layout for a narrow layer with its activation folded in: from
    dy = dL/d(output) (out, N) and the forward output y (out, N; None for activation 'none'),
    dz = dy * activation'(y), then dx = w @ dz (in, N), dw = x @ dz.T, db = dz.sum(axis=1)."""
    fn = "dense_backward_fm"
    need_dx, has_bias = bool_arg(fn, "need_dx", need_dx), bool_arg(fn, "has_bias", has_bias)
    activation = str_arg(fn, "activation", activation)
    x, w, (n, n_in, n_out) = _fm_dims(fn, x, w)
    activation_arg(fn, activation, 4)
    dy = float_input(fn, "dy", dy, ndim=2)
    same_dtype(fn, "dy", dy, "x", x)
    if dy.shape != (n_out, n):
        raise ValueError(f"{fn}: dy must have shape {(n_out, n)} to match x {x.shape} and w {w.shape}, got {dy.shape}")
    if (y is None) != (activation == "none"):
        raise ValueError(f"{fn}: y (the forward output) is needed for activation '{activation}' and only then")
    ins = [("x", x), ("w", w), ("dy", dy)]
    if y is not None:
        y = float_input(fn, "y", y, ndim=2)
        same_dtype(fn, "y", y, "x", x)
        if y.shape != (n_out, n):
            raise ValueError(f"{fn}: y must have shape {(n_out, n)} like dy, got {y.shape}")
        ins.append(("y", y))
    if not need_dx and dx is not None:
        raise ValueError(f"{fn}: dx was given but need_dx=False")
    if not has_bias and db is not None:
        raise ValueError(f"{fn}: db was given but has_bias=False")
    outs = [("dw", output(fn, "dw", dw, (n_in, n_out), x))]
    if has_bias:
        outs.append(("db", output(fn, "db", db, (n_out,), x)))
    if need_dx:
        outs.append(("dx", output(fn, "dx", dx, (n_in, n), x)))
    for i, (name, o) in enumerate(outs):
        for src_name, src in tuple(ins) + tuple(outs[:i]):
            no_overlap(fn, name, o, src_name, src)
    for name, a in ins:
        reject_nan(fn, name, a)
    grads = dict(outs)
    dz = dy if activation == "none" else _GRADS[activation](y, dy)
    grads["dw"][...] = x @ dz.T
    if has_bias:
        grads["db"][...] = dz.sum(axis=1, dtype=np.float64)
    if need_dx:
        grads["dx"][...] = w @ dz
    return grads.get("dx"), grads["dw"], grads.get("db")
