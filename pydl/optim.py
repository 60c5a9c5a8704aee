"""Optimizers (PyTorch names, defaults and update formulas) and learning-rate schedules.

An optimizer updates :class:`pydl.nn.Parameter` objects in place through the kernels ``sgd_step``,
``rmsprop_step`` and ``adam_step`` (AdamW: its decoupled weight decay). Build it PyTorch style, ``SGD(net.parameters(), lr=0.1)``, or Keras
style, ``SGD(lr=0.1)``, and let ``Network``/``compile`` bind it to the network's parameters. State
(momentum buffers, moment estimates) is per parameter, created at the first step in the parameter's
dtype on the optimizer's backend (``to(device)`` moves it). ``weight_decay`` is PyTorch's (added to the
gradient); a network's L2 term λ‖W‖² adds a further 2λ on weights only, through the same argument
(``Parameter.l2``).

Schedules (:class:`StepDecay`, :class:`ExponentialDecay`, :class:`CyclicLR`) set ``optimizer.lr``; pass
them to ``fit(callbacks=[...])``, which steps them every epoch (CyclicLR every batch), or call
``step()`` yourself.
"""
import math

from . import backends as _backends
from ._args import check_hyper, check_int
from .callbacks import Callback
from .nn.base import Parameter

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "get", "LRScheduler", "StepDecay", "ExponentialDecay", "CyclicLR"]


class Optimizer(_backends.OnBackend):
    def __init__(self, params, lr, backend):
        if isinstance(params, (int, float)) and not isinstance(params, bool):
            raise TypeError(f"{type(self).__name__}: the first argument is the parameters; pass the learning "
                            f"rate by name: {type(self).__name__}(lr={params})")
        self.lr = lr
        self.params = []
        self.steps = 0
        self._state = None
        self.backend = backend
        if params is not None:
            self.bind(params)

    def bind(self, params):
        """Use ``params`` (Parameters, e.g. ``net.parameters()``); resets the state."""
        params = list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"{type(self).__name__}: parameters must be pydl.nn.Parameter objects "
                                f"(net.parameters()), got {type(p).__name__}")
        self.params = params
        self.steps = 0
        self._state = None
        return self

    @property
    def lr(self):
        """The learning rate; checked finite and > 0 whenever it is set (schedules set it too)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = check_hyper(type(self).__name__, "lr", value, minimum=0.0, above=True)

    def _backend_changing(self, new):
        # Setting backend never moves the state; to() does.
        if self._state is not None and not new.same_memory(self._dev):
            raise ValueError(f"{type(self).__name__}: its state is on {self.device!r}; move it with "
                             f".to({new.name!r}) instead of setting backend")

    def to(self, device):
        """Compute on ``device`` (a name or a Backend), moving the state there with its values (a copy only
        when the memory differs); the parameters move with their layers (``Network.to``). Returns self."""
        dst, src = _backends.get(device), self._dev
        if self._state is not None:
            self._state = [{k: _backends.move(v, src, dst) for k, v in s.items()} for s in self._state]
        self._device = dst
        return self

    @property
    def bound(self):
        return bool(self.params)

    def zero_grad(self):
        fill_ = self._dev.fill_
        for p in self.params:
            fill_(p.grad, 0)

    def step(self):
        if not self.params:
            raise RuntimeError(f"{type(self).__name__}.step: no parameters "
                               f"(pass net.parameters() or compile a network)")
        if self._state is None:
            self._state = [self._new_state(p.data) for p in self.params]
        self.steps += 1
        self._step(_backends.resolve(self._device))

    def state_of(self, param):
        """The state arrays (dict) the optimizer keeps for ``param``."""
        if self._state is None:
            return {}
        return self._state[next(i for i, p in enumerate(self.params) if p is param)]

    def get_config(self):
        return {"lr": self.lr}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class SGD(Optimizer):
    """PyTorch SGD: d = g + wd·p; with momentum b = μb + (1-dampening)d (b = d at the first step),
    d = d + μb if nesterov else b; p -= lr·d."""

    def __init__(self, params=None, lr=0.001, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 backend=None):
        self.momentum = check_hyper("SGD", "momentum", momentum, minimum=0.0)
        self.dampening = check_hyper("SGD", "dampening", dampening, minimum=0.0, maximum=1.0)
        self.weight_decay = check_hyper("SGD", "weight_decay", weight_decay, minimum=0.0)
        if nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
        self.nesterov = bool(nesterov)
        super().__init__(params, lr, backend)

    def _new_state(self, data):
        return {"momentum_buffer": self._dev.zeros(data.shape, data.dtype)} if self.momentum else {}

    def _step(self, k):
        first = self.steps == 1
        for p, s in zip(self.params, self._state):
            k.sgd_step(p.data, p.grad, s.get("momentum_buffer"), lr=self.lr, momentum=self.momentum,
                       dampening=self.dampening, weight_decay=self.weight_decay + 2.0 * p.l2,
                       nesterov=self.nesterov, first_step=first)

    def get_config(self):
        return {"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """PyTorch RMSprop: v = αv + (1-α)g²; centered subtracts the running mean of g squared;
    with momentum b = μb + g/(√v+eps), p -= lr·b, else p -= lr·g/(√v+eps)."""

    def __init__(self, params=None, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 backend=None):
        self.alpha = check_hyper("RMSprop", "alpha", alpha, minimum=0.0, maximum=1.0)
        self.eps = check_hyper("RMSprop", "eps", eps, minimum=0.0)
        self.weight_decay = check_hyper("RMSprop", "weight_decay", weight_decay, minimum=0.0)
        self.momentum = check_hyper("RMSprop", "momentum", momentum, minimum=0.0)
        self.centered = bool(centered)
        super().__init__(params, lr, backend)

    def _new_state(self, data):
        zeros = self._dev.zeros
        state = {"square_avg": zeros(data.shape, data.dtype)}
        if self.momentum:
            state["momentum_buffer"] = zeros(data.shape, data.dtype)
        if self.centered:
            state["grad_avg"] = zeros(data.shape, data.dtype)
        return state

    def _step(self, k):
        for p, s in zip(self.params, self._state):
            k.rmsprop_step(p.data, p.grad, s["square_avg"], lr=self.lr, alpha=self.alpha, eps=self.eps,
                           weight_decay=self.weight_decay + 2.0 * p.l2, momentum=self.momentum,
                           centered=self.centered, momentum_buf=s.get("momentum_buffer"), grad_avg=s.get("grad_avg"))

    def get_config(self):
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps, "weight_decay": self.weight_decay,
                "momentum": self.momentum, "centered": self.centered}


class Adam(Optimizer):
    """PyTorch Adam (L2 weight_decay, not AdamW): m, v moment estimates with bias correction,
    p -= lr·m̂/(√v̂+eps)."""

    def __init__(self, params=None, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, backend=None):
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = tuple(check_hyper(name, f"betas[{i}]", b, minimum=0.0, maximum=1.0, below=True)
                           for i, b in enumerate(betas))
        self.eps = check_hyper(name, "eps", eps, minimum=0.0)
        self.weight_decay = check_hyper(name, "weight_decay", weight_decay, minimum=0.0)
        super().__init__(params, lr, backend)

    def _new_state(self, data):
        zeros = self._dev.zeros
        return {"exp_avg": zeros(data.shape, data.dtype), "exp_avg_sq": zeros(data.shape, data.dtype)}

    def _decays(self, p):
        """(weight decay added to p's gradient, decoupled weight decay) for the adam_step kernel."""
        return self.weight_decay + 2.0 * p.l2, 0.0

    def _step(self, k):
        beta1, beta2 = self.betas
        for p, s in zip(self.params, self._state):
            coupled, decoupled = self._decays(p)
            k.adam_step(p.data, p.grad, s["exp_avg"], s["exp_avg_sq"], step=self.steps, lr=self.lr, beta1=beta1,
                        beta2=beta2, eps=self.eps, weight_decay=coupled, decoupled_weight_decay=decoupled)

    def get_config(self):
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps, "weight_decay": self.weight_decay}


class AdamW(Adam):
    """PyTorch AdamW: Adam with decoupled weight decay, p ← p·(1 - lr·weight_decay) before the Adam step
    (the network's L2 term, a loss term, still adds 2λ·W to the gradient)."""

    def __init__(self, params=None, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, backend=None):
        super().__init__(params, lr, betas, eps, weight_decay, backend)

    def _decays(self, p):
        return 2.0 * p.l2, self.weight_decay


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}


def get(optimizer):
    """An optimizer from a name (default hyper-parameters) or an instance (returned as is)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()]()
    if isinstance(optimizer, str):
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {', '.join(sorted(_BY_NAME))}")
    raise TypeError(f"optimizer must be a name or a pydl.optim.Optimizer, got {type(optimizer).__name__}")


def from_config(name, config):
    cls = _BY_NAME[name.lower()]
    config = dict(config)
    if "betas" in config:
        config["betas"] = tuple(config["betas"])
    return cls(**config)


# ---- learning-rate schedules -------------------------------------------------------------------
class LRScheduler(Callback):
    """Sets ``optimizer.lr = lr_at(t)`` from the lr the optimizer had when bound, t counting ``step()``s.

    Give the optimizer (PyTorch style) or let ``fit`` bind the network's at the start of training.
    """

    def __init__(self, optimizer=None):
        self.optimizer = None
        self.t = 0
        if optimizer is not None:
            self.bind(optimizer)

    def bind(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.t = 0
        return self

    def lr_at(self, t):
        raise NotImplementedError

    def step(self):
        self.t += 1
        self.optimizer.lr = self.lr_at(self.t)

    # Stepped after every batch (True) or every epoch (False).
    per_batch = False

    def on_train_begin(self, network):
        if self.optimizer is None:
            self.bind(network.optimizer)

    def on_batch_end(self, batch, loss):
        if self.per_batch:
            self.step()

    def on_epoch_end(self, epoch, logs):
        if not self.per_batch:
            self.step()


class StepDecay(LRScheduler):
    """lr = base · gamma^(epoch // step_size): report 002's η ← 0.95·η every epoch is the default."""

    def __init__(self, optimizer=None, gamma=0.95, step_size=1):
        self.gamma = check_hyper("StepDecay", "gamma", gamma, minimum=0.0, above=True)
        self.step_size = check_int("StepDecay: step_size", step_size, 1, 2**53)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class ExponentialDecay(LRScheduler):
    """lr = base · decay_rate^(epoch / decay_steps), continuous (Keras' ExponentialDecay, per epoch)."""

    def __init__(self, optimizer=None, decay_rate=0.96, decay_steps=1):
        self.decay_rate = check_hyper("ExponentialDecay", "decay_rate", decay_rate, minimum=0.0, above=True)
        self.decay_steps = check_hyper("ExponentialDecay", "decay_steps", decay_steps, minimum=0.0, above=True)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.decay_rate ** (t / self.decay_steps)


class CyclicLR(LRScheduler):
    """Triangular cyclic learning rate (Smith 2017, PyTorch's CyclicLR mode="triangular"), stepped every
    batch: from base_lr up to max_lr in step_size_up steps and back down, repeating."""

    def __init__(self, optimizer=None, base_lr=0.001, max_lr=0.006, step_size_up=2000):
        self.min_lr = check_hyper("CyclicLR", "base_lr", base_lr, minimum=0.0, above=True)
        self.max_lr = check_hyper("CyclicLR", "max_lr", max_lr, minimum=self.min_lr)
        self.step_size_up = check_int("CyclicLR: step_size_up", step_size_up, 1, 2**53)
        super().__init__(optimizer)

    def bind(self, optimizer):
        super().bind(optimizer)
        optimizer.lr = self.min_lr
        return self

    per_batch = True

    def lr_at(self, t):
        cycle = math.floor(1 + t / (2 * self.step_size_up))
        x = abs(t / self.step_size_up - 2 * cycle + 1)
        return self.min_lr + (self.max_lr - self.min_lr) * max(0.0, 1.0 - x)
