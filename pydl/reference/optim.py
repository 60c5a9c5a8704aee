"""In-place optimizer updates with PyTorch's names, defaults and formulas (torch.optim).

Every check runs before the first write: param, grad and the state arrays share no memory and hold only
finite values (a NaN or inf can only spread).
"""
import numpy as np

from ._checks import (bool_arg, fits_dtype, float_arg, float_input, inout, int_arg, no_overlap, reject_nonfinite,
                      same_dtype, same_shape)

__all__ = ["adam_step", "rmsprop_step", "sgd_step"]


def _state(fn, name, a, param):
    if a is None:
        raise ValueError(f"{fn}: {name} is required with these settings")
    return inout(fn, name, a, param, param.shape)


def _param_grad(fn, param, grad, lr, weight_decay):
    param = float_input(fn, "param", param)
    param = inout(fn, "param", param, param, param.shape)
    grad = float_input(fn, "grad", grad)
    same_dtype(fn, "grad", grad, "param", param)
    same_shape(fn, "grad", grad, param.shape)
    lr, weight_decay = float_arg(fn, "lr", lr), float_arg(fn, "weight_decay", weight_decay)
    fits_dtype(fn, "lr", lr, param)
    fits_dtype(fn, "weight_decay", weight_decay, param)
    if not lr >= 0:
        raise ValueError(f"{fn}: lr must be >= 0, got {lr}")
    if not weight_decay >= 0:
        raise ValueError(f"{fn}: weight_decay must be >= 0, got {weight_decay}")
    return param, grad, lr, weight_decay


def _no_overlap_finite(fn, arrays):
    """The last checks before the update, in the C++ order: no shared memory, only finite values."""
    for i, (name, a) in enumerate(arrays):
        for other, b in arrays[:i]:
            no_overlap(fn, name, a, other, b)
    for name, a in arrays:
        try:
            reject_nonfinite(fn, name, a)
        except ValueError as e:
            if name != "grad":
                raise
            raise ValueError(f"{e} (training diverged? try a smaller learning rate)") from None


def sgd_step(param, grad, momentum_buf=None, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=False):
    """g = grad + wd*param; buf = g on the first step else momentum*buf + (1-dampening)*g;
    g = g + momentum*buf (Nesterov) or buf; param -= lr*g."""
    fn = "sgd_step"
    param, grad, lr, weight_decay = _param_grad(fn, param, grad, lr, weight_decay)
    momentum, dampening = float_arg(fn, "momentum", momentum), float_arg(fn, "dampening", dampening)
    nesterov, first_step = bool_arg(fn, "nesterov", nesterov), bool_arg(fn, "first_step", first_step)
    fits_dtype(fn, "momentum", momentum, param)
    fits_dtype(fn, "dampening", dampening, param)
    if momentum < 0:
        raise ValueError(f"{fn}: momentum must be >= 0, got {momentum}")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(f"{fn}: Nesterov momentum requires momentum > 0 and dampening = 0")
    arrays = [("param", param), ("grad", grad)]
    if momentum:
        momentum_buf = _state(fn, "momentum_buf", momentum_buf, param)
        arrays.append(("momentum_buf", momentum_buf))
    _no_overlap_finite(fn, arrays)
    g = grad + weight_decay * param if weight_decay else grad
    if momentum:
        if first_step:
            momentum_buf[...] = g
        else:
            momentum_buf *= momentum
            momentum_buf += (1 - dampening) * g
        g = g + momentum * momentum_buf if nesterov else momentum_buf
    param -= lr * g


def rmsprop_step(param, grad, square_avg, *, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, momentum_buf=None, grad_avg=None):
    """square_avg = alpha*square_avg + (1-alpha)*g^2; avg = sqrt(square_avg [- grad_avg^2]) + eps;
    param -= lr * g/avg, or through a momentum buffer buf = momentum*buf + g/avg."""
    fn = "rmsprop_step"
    param, grad, lr, weight_decay = _param_grad(fn, param, grad, lr, weight_decay)
    alpha, eps = float_arg(fn, "alpha", alpha), float_arg(fn, "eps", eps)
    momentum = float_arg(fn, "momentum", momentum)
    centered = bool_arg(fn, "centered", centered)
    fits_dtype(fn, "eps", eps, param)
    fits_dtype(fn, "momentum", momentum, param)
    if not 0 <= alpha <= 1:
        raise ValueError(f"{fn}: alpha must lie in [0, 1], got {alpha}")
    if not eps >= 0:
        raise ValueError(f"{fn}: eps must be >= 0, got {eps}")
    if momentum < 0:
        raise ValueError(f"{fn}: momentum must be >= 0, got {momentum}")
    square_avg = _state(fn, "square_avg", square_avg, param)
    arrays = [("param", param), ("grad", grad), ("square_avg", square_avg)]
    if momentum > 0:
        momentum_buf = _state(fn, "momentum_buf", momentum_buf, param)
        arrays.append(("momentum_buf", momentum_buf))
    if centered:
        grad_avg = _state(fn, "grad_avg", grad_avg, param)
        arrays.append(("grad_avg", grad_avg))
    _no_overlap_finite(fn, arrays)
    g = grad + weight_decay * param if weight_decay else grad
    square_avg *= alpha
    square_avg += (1 - alpha) * g * g
    if centered:
        grad_avg *= alpha
        grad_avg += (1 - alpha) * g
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum > 0:
        momentum_buf *= momentum
        momentum_buf += g / avg
        param -= lr * momentum_buf
    else:
        param -= lr * g / avg


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, decoupled_weight_decay=0.0):
    """m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    param -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps). `step` counts from 1. weight_decay is
    added to g (Adam's L2); decoupled_weight_decay first scales param by 1 - lr*it (AdamW)."""
    fn = "adam_step"
    param, grad, lr, weight_decay = _param_grad(fn, param, grad, lr, weight_decay)
    step = int_arg(fn, "step", step)
    beta1, beta2, eps = float_arg(fn, "beta1", beta1), float_arg(fn, "beta2", beta2), float_arg(fn, "eps", eps)
    fits_dtype(fn, "eps", eps, param)
    if step < 1:
        raise ValueError(f"{fn}: step must be >= 1 (the count including this update), got {step}")
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= beta < 1:
            raise ValueError(f"{fn}: {name} must lie in [0, 1), got {beta}")
    if not eps >= 0:
        raise ValueError(f"{fn}: eps must be >= 0, got {eps}")
    decoupled = float_arg(fn, "decoupled_weight_decay", decoupled_weight_decay)
    fits_dtype(fn, "decoupled_weight_decay", decoupled, param)
    if not decoupled >= 0:
        raise ValueError(f"{fn}: decoupled_weight_decay must be >= 0, got {decoupled}")
    exp_avg = _state(fn, "exp_avg", exp_avg, param)
    exp_avg_sq = _state(fn, "exp_avg_sq", exp_avg_sq, param)
    _no_overlap_finite(fn, [("param", param), ("grad", grad), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)])
    g = grad + weight_decay * param if weight_decay else grad
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    bias_correction1 = 1 - beta1 ** float(step)
    bias_correction2 = 1 - beta2 ** float(step)
    denom = np.sqrt(exp_avg_sq) / np.sqrt(bias_correction2) + eps
    if decoupled:
        param *= param.dtype.type(1 - lr * decoupled)
    param -= (lr / bias_correction1) * exp_avg / denom
