"""Numerical gradient check by centered differences in float64."""
import numpy as np

from .losses import Loss
from .network import Network
from ._args import check_hyper
from .nn.base import Layer

__all__ = ["gradcheck", "rel_error"]


def rel_error(a, b):
    """max over elements of |a - b| / max(1e-8, |a| + |b|) (cs231n)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def _numeric(f, arr, eps):
    """d f() / d arr by centered differences, perturbing ``arr`` in place one element at a time."""
    flat = arr.reshape(-1)
    grad = np.empty(flat.size)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        grad[i] = (fp - fm) / (2 * eps)
    return grad.reshape(arr.shape)


def _clone_layer(layer):
    twin = type(layer)(**layer.get_config(), dtype=np.float64, backend=layer.backend)
    for name, p in twin._parameters.items():
        p.data[...] = layer._parameters[name].data
    return twin


def gradcheck(model, x, y=None, eps=1e-6, seed=0, check_input=True):
    """Compare analytic and numerical gradients; returns {name: max relative error} per parameter
    (``"layer{i}.W"`` for a network, ``"W"`` for a layer) and ``"input"`` for d/dx.

    ``model`` is a Network, a Layer or a Loss, checked on a float64 copy (the original is untouched).
    A network with a loss and ``y`` is checked on loss(net(x), y); a layer, or a network without ``y``,
    on sum(out * R) with a fixed random R (seeded by ``seed``); a loss on loss(x, y) w.r.t. x.
    """
    eps = check_hyper("gradcheck", "eps", eps, minimum=0.0, maximum=1.0, above=True)
    x = np.array(x, dtype=np.float64, order="C")
    if isinstance(model, Loss):
        if y is None:
            raise ValueError("gradcheck: a loss needs y")
        loss = type(model)(**model.get_config())
        loss.backend = model.backend
        t = np.asarray(y)
        t = t.astype(np.float64) if t.dtype.kind == "f" else t
        loss(x, t)
        analytic = loss.backward().copy()
        return {"input": rel_error(analytic, _numeric(lambda: loss(x, t), x, eps))}

    if isinstance(model, Network):
        net = model.copy(dtype=np.float64)
        layers = net.layers
        if y is not None:
            net._require("gradcheck", optimizer=False)
            _, out_shape = net._input(x, "gradcheck")
            t, _ = net._target(y, x.shape[0], out_shape, "gradcheck")
    elif isinstance(model, Layer):
        net, layers, y = None, [_clone_layer(model)], None
    else:
        raise TypeError(f"gradcheck: model must be a Network, a Layer or a Loss, got {type(model).__name__}")

    def forward(inp):
        for layer in layers:
            inp = layer.forward(inp)
        return inp

    out = forward(x)
    if y is None:
        r = np.random.default_rng(seed).standard_normal(out.shape)

        def objective():
            return float(np.sum(forward(x) * r))
        dy = r
    else:
        def objective():
            return net.loss(forward(x), t)
        net.loss(out, t)
        dy = net.loss.backward()
    for i in range(len(layers) - 1, -1, -1):
        dy = layers[i].backward(dy, need_dx=True)
    analytic = {"input": dy.copy()}
    named = net.named_parameters() if net is not None else [(p.name, p) for p in layers[0].parameters()]
    for name, p in named:
        analytic[name] = p.grad.copy()

    result = {}
    for layer in layers:
        layer.eval()
    for name, p in named:
        result[name] = rel_error(analytic[name], _numeric(objective, p.data, eps))
    if check_input:
        result["input"] = rel_error(analytic["input"], _numeric(objective, x, eps))
    return result
