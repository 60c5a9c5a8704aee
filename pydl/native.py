"""Native training: whole epochs in C++ (``pydl._core.NativeTrainer``) for networks of Dense and activation
layers, so small networks are no longer dominated by Python overhead per step.

:meth:`NativePlan.from_network` maps a :class:`pydl.Network` onto the native engine, or returns None when
something in it has no native twin (then ``fit`` keeps the Python path). The engine trains the layers'
own parameter arrays and the optimizer's own state arrays in place and keeps ``optimizer.steps`` in step,
so native and Python epochs can alternate on one network and give the same result as Python alone.
"""
import operator

from . import _core
from . import backend as _backend
from . import kernels as _kernels
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, MultiBCELoss
from .nn.activations import ReLU, Sigmoid, Softmax, Tanh
from .nn.layers import Dense, Flatten
from .optim import SGD, Adam, RMSprop

__all__ = ["NativePlan"]

_LOSSES = {MSELoss: "mse", BCELoss: "bce", BCEWithLogitsLoss: "bce_with_logits", CrossEntropyLoss: "cross_entropy",
           MultiBCELoss: "multi_bce"}
_ACTIVATIONS = {ReLU: "relu", Tanh: "tanh", Softmax: "softmax"}


def _is_cpp(backend):
    return _backend.resolve(backend) is _kernels


def _layer_specs(net):
    """The engine's layer tuples for net's layers, or None when one has no native twin."""
    specs = []
    for layer in net.layers:
        cls = type(layer)  # exact types: a subclass may override forward/backward
        if not _is_cpp(layer.backend):
            return None
        if cls is Dense:
            data, grads = layer.params, layer.grads  # the live arrays, trained in place
            specs.append(("dense", data["W"], data.get("b"), grads["W"], grads.get("b")))
            if layer.activation != "none":
                specs.append((layer.activation,))
        elif cls is Sigmoid:
            specs.append(("sigmoid", layer.clip))
        elif cls in _ACTIVATIONS:
            specs.append((_ACTIVATIONS[cls],))
        elif cls is Flatten:
            continue  # the engine sees every sample as a flat row already
        else:
            return None
        if specs and specs[0][0] != "dense":
            return None  # the engine learns the input width from the first dense layer
    return specs if specs else None


# The hyper-parameters the engine takes from each optimizer (lr comes with every run: schedules change it).
_HYPER_NAMES = {SGD: ("momentum", "dampening", "nesterov", "weight_decay"),
                RMSprop: ("alpha", "eps", "weight_decay", "momentum", "centered"),
                Adam: ("betas", "eps", "weight_decay")}
_HYPER = {cls: operator.attrgetter(*names) for cls, names in _HYPER_NAMES.items()}


def _optimizer_settings(opt):
    names = _HYPER_NAMES[type(opt)]
    return {"name": type(opt).__name__.lower(), **dict(zip(names, _HYPER[type(opt)](opt)))}


class NativePlan:
    """A network bound to a :class:`pydl._core.NativeTrainer`.

    ``run_epoch(x, t, perm, batch_size)`` trains one epoch on prepared data (``x`` C-contiguous in the
    network dtype, ``t`` from ``net.loss.prepare_target``) in batches ``perm[i:i+batch_size]`` and returns
    ``(mean loss, accuracy)`` exactly as the Python loop of ``Network.fit`` reports them.
    """

    def __init__(self, net):
        self.net = net
        self._trainer = None
        self._key = self._objects = None  # what the trainer was built from

    @classmethod
    def from_network(cls, net):
        """A plan for ``net``, or None when a layer, the loss or the optimizer has no native version
        (or the network uses the NumPy backend)."""
        plan = cls(net)
        return plan if plan._ensure() else None

    def _ensure(self):
        """(Re)build the trainer when anything it holds changed: parameter or state arrays replaced
        (set_dtype, a new optimizer), hyper-parameters, loss, L2, layers. Returns False when the network
        has no native form. Called before every run, so it only compares identities and a few numbers."""
        net = self.net
        opt, loss = net.optimizer, net.loss
        if opt is None or loss is None or type(loss) not in _LOSSES or type(opt) not in _HYPER:
            return False
        if opt._state is None:  # what Optimizer.step does on its first call
            opt._state = [opt._new_state(p.data) for p in opt.params]
        # Settings compared by value; objects and arrays by identity (== on arrays is element-wise).
        key = (_HYPER[type(opt)](opt), getattr(loss, "eps", None), net.l2, loss.backend, opt.backend,
               _backend.get_backend(), tuple((layer.backend, getattr(layer, "clip", None)) for layer in net.layers))
        objects = [opt, opt._state, loss, *net.layers, *(a for p in opt.params for a in (p.data, p.grad)),
                   *(a for state in opt._state for a in state.values())]
        if (self._key is not None and key == self._key and len(objects) == len(self._objects)
                and all(map(operator.is_, objects, self._objects))):
            return True
        self._key = self._objects = None
        if not (_is_cpp(loss.backend) and _is_cpp(opt.backend)):
            return False
        if [id(p) for p in opt.params] != [id(p) for p in net.parameters()]:
            return False
        specs = _layer_specs(net)
        if specs is None:
            return False
        settings = _optimizer_settings(opt)
        settings["state"] = opt._state
        self._trainer = _core.NativeTrainer(specs, _LOSSES[type(loss)], settings, l2=net.l2, step=opt.steps,
                                            bce_eps=getattr(loss, "eps", 1e-7))
        self._key, self._objects = key, objects
        return True

    def _run(self, method, *args, **kwargs):
        if not self._ensure():
            raise RuntimeError("NativePlan: the network changed into one the native engine cannot train")
        opt, trainer = self.net.optimizer, self._trainer
        trainer.step = opt.steps
        try:
            return getattr(trainer, method)(*args, lr=opt.lr, **kwargs)
        finally:
            opt.steps = trainer.step

    def run_epoch(self, x, t, perm=None, batch_size=None):
        """One epoch; returns (mean loss over the epoch's batches weighted by batch size, accuracy)."""
        return self._run("run_epoch", x, t, perm, batch_size=batch_size)

    def run_epochs(self, x, t, epochs, perms=None, batch_size=None):
        """``epochs`` epochs in one call (constant lr, no per-epoch hooks); perms (epochs, N) or None.
        Returns (losses, accuracies) arrays with one entry per epoch."""
        return self._run("run_epochs", x, t, perms, epochs=epochs, batch_size=batch_size)
