"""The training plan: whole epochs in C++ (``pydl._core._TrainingPlan``, or on a GPU the CUDA module's
``_TrainingPlan``) over the kernels the layers call.

Each layer states its step once (:meth:`pydl.nn.Layer.plan_step`: a kind, its parameters, its numbers);
the loss and the optimizer are named with their settings. :meth:`TrainingPlan.for_network` builds the
plan, or returns None when a layer has no step (a user's layer, or one whose forward/backward a subclass
changed), when the loss or optimizer is a user's own, or when the network's device has no plan (the NumPy
reference has none: it is the step-by-step oracle); fit
then trains through the layers' forward/backward, which call the same kernels in the same order (a ReLU
layer after a Conv2D or Dense runs fused into their step, with identical results). The
plan trains the parameters' and the optimizer state's own arrays in place and keeps ``optimizer.steps``,
so plan and Python epochs can alternate on one network and give the same result as Python alone.
"""
import operator

import numpy as np

from . import backend as _backend
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, MultiBCELoss
from .optim import SGD, Adam, AdamW, RMSprop

__all__ = ["TrainingPlan"]

_LOSSES = (MSELoss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MultiBCELoss)
# The state arrays of each optimizer in the order its update kernel takes them, and its settings.
_STATE_NAMES = {SGD: ("momentum_buffer",), RMSprop: ("square_avg", "momentum_buffer", "grad_avg"),
                Adam: ("exp_avg", "exp_avg_sq"), AdamW: ("exp_avg", "exp_avg_sq")}


# A ReLU layer's step, which the plan fuses into the Conv2D or Dense step right before it: their kernels
# apply it in the same pass, and their backward applies relu_backward from the output as the ReLU layer's.
_RELU = ("activation", {"activation": 1})
_FUSES_RELU = ("conv2d", "dense")


def _settings(opt):
    if type(opt) is SGD:
        return {"momentum": opt.momentum, "dampening": opt.dampening, "nesterov": opt.nesterov}
    if type(opt) is RMSprop:
        return {"alpha": opt.alpha, "eps": opt.eps, "momentum": opt.momentum, "centered": opt.centered}
    return {"beta1": opt.betas[0], "beta2": opt.betas[1], "eps": opt.eps,
            "decoupled_weight_decay": opt.weight_decay if type(opt) is AdamW else 0.0}


def _defined_in(cls, name):
    return next(c for c in cls.__mro__ if name in c.__dict__)


def _step_is_current(layer):
    """True when the class that states the layer's plan step also defines (or inherits) the forward and
    backward that run: a subclass changing forward/backward without a step of its own has none."""
    cls = type(layer)
    owner = _defined_in(cls, "plan_step")
    return all(issubclass(owner, _defined_in(cls, name)) for name in ("forward", "backward"))


def _plan_type(net):
    """The _TrainingPlan class of the one device every part of the network computes on, or None (no plan
    there, parts on different devices, or pydl.profile() timing kernels, which a plan runs no boundaries for)."""
    devices = {_backend.get(o.backend) for o in (net.optimizer, net.loss, *net.layers)}
    if len(devices) != 1 or _backend.kernel_wrapper is not None:
        return None
    return devices.pop().plan_type


class TrainingPlan:
    """A network bound to a ``_TrainingPlan``; rebuilt when anything it points into changes."""

    def __init__(self, net):
        self.net = net
        self._plan = None
        self._key = self._objects = None

    @classmethod
    def for_network(cls, net):
        plan = cls(net)
        return plan if plan._ensure() else None

    def _describe(self):
        """(steps, loss, optimizer) for _TrainingPlan and the objects they hold, or None when the network
        has no plan."""
        net = self.net
        opt, loss = net.optimizer, net.loss
        if type(loss) not in _LOSSES or type(opt) not in _STATE_NAMES or net._last_input_shape is None:
            return None
        if _plan_type(net) is None:
            return None
        if [id(p) for p in opt.params] != [id(p) for p in net.parameters()]:
            return None
        shape = tuple(net._last_input_shape)
        steps = []
        fusable = False  # the last step is the previous layer's, a Conv2D or Dense without activation
        for index, layer in enumerate(net.layers):
            step = layer.plan_step() if _step_is_current(layer) else None
            if step is None:
                return None
            out_shape = tuple(layer.output_shape(shape))
            if fusable and step == _RELU:
                kind, data, grads, numbers, in_shape, _, buffers = steps[-1]
                steps[-1] = (kind, data, grads, {**numbers, "activation": _RELU[1]["activation"]}, in_shape, out_shape,
                             buffers)
                fusable = False
            elif step != "identity":
                kind, numbers = step
                if layer.uses_seed:  # the step's seed plus the layer's index, as Network._forward gives it
                    numbers = dict(numbers, seed_offset=index)
                params = layer.parameters()
                steps.append((kind, [p.data for p in params], [p.grad for p in params], numbers, shape, out_shape,
                              list(layer.buffers.values())))
                fusable = kind in _FUSES_RELU and numbers["activation"] == 0
            else:
                fusable = False
            shape = out_shape
        if not steps or len(shape) != 1:
            return None  # the accuracy count and the class losses read (N, C) outputs
        if opt._state is None:  # what Optimizer.step does on its first call
            opt._state = [opt._new_state(p.data) for p in opt.params]
        names = _STATE_NAMES[type(opt)]
        params = [(p.data, p.grad, tuple(s.get(name) for name in names),
                   opt._decays(p)[0] if isinstance(opt, Adam) else opt.weight_decay + 2.0 * p.l2)
                  for p, s in zip(opt.params, opt._state)]
        loss_spec = (loss.name, getattr(loss, "eps", 1e-7), loss.label_threshold)
        return steps, loss_spec, (type(opt).__name__.lower(), _settings(opt), params)

    def _ensure(self):
        """(Re)build the plan when anything it holds changed: parameter, gradient or state arrays replaced,
        settings, L2, layers, input shape. Returns False when the network has no plan. Called before every
        run, so it compares identities and a few numbers first."""
        net, opt = self.net, self.net.optimizer
        live = [net.loss, opt, opt._state, *net.layers, *(a for p in net.parameters() for a in (p.data, p.grad)),
                *(a for _, a in net.named_buffers())]
        if opt is not None and opt._state is not None:
            live += [a for state in opt._state for a in state.values()]
        key = (net._last_input_shape, net.dtype.str, net.l2, tuple(p.l2 for p in net.parameters()),
               None if opt is None else (type(opt), _settings(opt) if type(opt) in _STATE_NAMES else None,
                                         getattr(opt, "weight_decay", None)),
               getattr(net.loss, "eps", None), tuple(layer.plan_step() for layer in net.layers),
               tuple(o.backend for o in (opt, net.loss, *net.layers) if o is not None), _backend.get_backend())
        if (self._key is not None and key == self._key and len(live) == len(self._objects)
                and all(map(operator.is_, live, self._objects))):
            return True
        self._key = self._objects = self._plan = None
        description = self._describe()
        if description is None:
            return False
        steps, loss, optimizer = description
        self._plan = _plan_type(net)(net.dtype.name, steps, loss, optimizer)
        # The optimizer state may have been created by _describe: compare against the arrays now live.
        live = [net.loss, opt, opt._state, *net.layers, *(a for p in net.parameters() for a in (p.data, p.grad)),
                *(a for _, a in net.named_buffers()), *(a for state in opt._state for a in state.values())]
        self._key, self._objects = key, live
        return True

    def run(self, x, t, labels, epochs=1, perms=None, batch_size=None, lrs=None, seeds=None):
        """Train ``epochs`` epochs on prepared data in batches of ``batch_size`` rows (``perms[e]`` orders
        epoch e; rows in order without perms), the learning rate of step k being ``lrs[k]`` (the
        optimizer's lr without lrs) and its seed for random layers ``seeds[k]``. Returns (losses, accuracies) of the epochs that ran: fewer than asked
        when a loss became non-finite or an update met NaN (the caller restores and replays)."""
        if not self._ensure():
            raise RuntimeError("TrainingPlan: the network changed into one the plan cannot train")
        opt = self.net.optimizer
        n = x.shape[0]
        losses, correct, done, opt.steps = self._plan.run(
            x, t, labels, epochs=epochs, batch_size=n if batch_size is None else batch_size, perms=perms, lrs=lrs,
            lr=opt.lr, step=opt.steps, seeds=seeds)
        return losses[:done].tolist(), (correct[:done] / n).tolist()
