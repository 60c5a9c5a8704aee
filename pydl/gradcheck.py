"""Numerical gradient check by centered differences in float64, on the model's device."""
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


def _numeric(f, arr, eps, dev):
    """d f() / d arr by centered differences, perturbing ``arr`` (an array of backend ``dev``) one element at
    a time: in place on host backends, through a host copy written back on others."""
    host = dev.to_numpy(arr, copy=False)
    flat = host.reshape(-1)
    grad = np.empty(flat.size)

    def value_at(v):
        flat[i] = v
        if host is not arr:
            dev.copy_(arr, host)
        return f()

    for i in range(flat.size):
        old = flat[i]
        fp, fm = value_at(old + eps), value_at(old - eps)
        value_at(old)
        grad[i] = (fp - fm) / (2 * eps)
    return grad.reshape(host.shape)


def _on(dev, a):
    """NumPy ``a`` as an array of backend ``dev`` (itself on host backends)."""
    return a if dev.host else dev.from_numpy(a)


def _clone_layer(layer):
    dev = layer._dev
    twin = type(layer)(**layer.get_config(), dtype=np.float64, backend=dev)
    for name, p in twin._parameters.items():
        dev.copy_(p.data, layer._parameters[name].data)
    return twin


def gradcheck(model, x, y=None, eps=1e-6, seed=0, check_input=True):
    """Compare analytic and numerical gradients; returns {name: max relative error} per parameter
    (``"layer{i}.W"`` for a network, ``"W"`` for a layer) and ``"input"`` for d/dx.

    ``model`` is a Network, a Layer or a Loss, checked on a float64 copy (the original is untouched) on the
    model's device, in training mode (dropout with one fixed mask, batch normalization through the batch
    statistics). A network with a loss and ``y`` is checked on loss(net(x), y); a layer, or a network
    without ``y``, on sum(out * R) with a fixed random R (seeded by ``seed``); a loss on loss(x, y) w.r.t. x.
    """
    eps = check_hyper("gradcheck", "eps", eps, minimum=0.0, maximum=1.0, above=True)
    x = np.array(x, dtype=np.float64, order="C")
    if isinstance(model, Loss):
        if y is None:
            raise ValueError("gradcheck: a loss needs y")
        loss = type(model)(**model.get_config())
        loss.backend = model.backend
        dev = loss._dev
        t = np.asarray(y)
        t = _on(dev, np.ascontiguousarray(t, dtype=np.float64) if t.dtype.kind == "f" else t)
        xd = _on(dev, x)
        loss(xd, t)
        analytic = dev.to_numpy(loss.backward())
        return {"input": rel_error(analytic, _numeric(lambda: loss(xd, t), xd, eps, dev))}

    if isinstance(model, Network):
        net = model.copy(dtype=np.float64)
        layers, dev = net.layers, net._dev
        if y is not None:
            net._require("gradcheck", optimizer=False)
            _, out_shape = net._input(x, "gradcheck")
            t, _ = net._target(y, x.shape[0], out_shape, "gradcheck")
    elif isinstance(model, Layer):
        net, layers, y = None, [_clone_layer(model)], None
        dev = layers[0]._dev
    else:
        raise TypeError(f"gradcheck: model must be a Network, a Layer or a Loss, got {type(model).__name__}")
    xd = _on(dev, x)
    for i, layer in enumerate(layers):  # one dropout mask for every evaluation, all in training mode
        layer.train()
        if layer.uses_seed:
            layer._seed = (seed + i) % 2**63

    def forward(inp):
        for layer in layers:
            inp = layer.forward(inp)
        return inp

    out = forward(xd)
    if y is None:
        r = np.random.default_rng(seed).standard_normal(out.shape)

        def objective():
            return float(np.sum(dev.to_numpy(forward(xd), copy=False) * r))
        dy = _on(dev, r)
    else:
        def objective():
            return net.loss(forward(xd), t)
        net.loss(out, t)
        dy = net.loss.backward()
    for i in range(len(layers) - 1, -1, -1):
        dy = layers[i].backward(dy, need_dx=True)
    analytic = {"input": dev.to_numpy(dy)}
    named = net.named_parameters() if net is not None else [(p.name, p) for p in layers[0].parameters()]
    for name, p in named:
        analytic[name] = dev.to_numpy(p.grad)

    result = {}
    for name, p in named:
        result[name] = rel_error(analytic[name], _numeric(objective, p.data, eps, dev))
    if check_input:
        result["input"] = rel_error(analytic["input"], _numeric(objective, xd, eps, dev))
    return result
