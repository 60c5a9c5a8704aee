"""In-place optimizer updates with PyTorch's names, defaults and formulas (torch.optim)."""
import numpy as np

from ._checks import float_input, inout, reject_nan, same_dtype, same_shape

__all__ = ["adam_step", "rmsprop_step", "sgd_step"]


def _state(fn, name, a, param):
    if a is None:
        raise ValueError(f"{fn}: {name} is required with these settings")
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    same_dtype(fn, name, a, "param", param)
    same_shape(fn, name, a, param.shape)
    inout(fn, name, a)


def _param_grad(fn, param, grad, lr, weight_decay):
    float_input(fn, "param", param)
    inout(fn, "param", param)
    float_input(fn, "grad", grad)
    same_dtype(fn, "grad", grad, "param", param)
    same_shape(fn, "grad", grad, param.shape)
    reject_nan(fn, "grad", grad)
    if not lr >= 0:
        raise ValueError(f"{fn}: lr must be >= 0, got {lr}")
    if not weight_decay >= 0:
        raise ValueError(f"{fn}: weight_decay must be >= 0, got {weight_decay}")
    return grad + weight_decay * param if weight_decay else grad


def sgd_step(param, grad, momentum_buf=None, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=False):
    """g = grad + wd*param; buf = g on the first step else momentum*buf + (1-dampening)*g;
    g = g + momentum*buf (Nesterov) or buf; param -= lr*g."""
    fn = "sgd_step"
    g = _param_grad(fn, param, grad, lr, weight_decay)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(f"{fn}: Nesterov momentum requires momentum > 0 and dampening = 0")
    if momentum < 0:
        raise ValueError(f"{fn}: momentum must be >= 0, got {momentum}")
    if momentum:
        _state(fn, "momentum_buf", momentum_buf, param)
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
    g = _param_grad(fn, param, grad, lr, weight_decay)
    if not 0 <= alpha <= 1:
        raise ValueError(f"{fn}: alpha must lie in [0, 1], got {alpha}")
    if not eps >= 0:
        raise ValueError(f"{fn}: eps must be >= 0, got {eps}")
    _state(fn, "square_avg", square_avg, param)
    square_avg *= alpha
    square_avg += (1 - alpha) * g * g
    if centered:
        _state(fn, "grad_avg", grad_avg, param)
        grad_avg *= alpha
        grad_avg += (1 - alpha) * g
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum > 0:
        _state(fn, "momentum_buf", momentum_buf, param)
        momentum_buf *= momentum
        momentum_buf += g / avg
        param -= lr * momentum_buf
    else:
        param -= lr * g / avg


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0):
    """m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    param -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps). `step` counts from 1."""
    fn = "adam_step"
    g = _param_grad(fn, param, grad, lr, weight_decay)
    if step < 1:
        raise ValueError(f"{fn}: step must be >= 1 (the count including this update), got {step}")
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= beta < 1:
            raise ValueError(f"{fn}: {name} must lie in [0, 1), got {beta}")
    _state(fn, "exp_avg", exp_avg, param)
    _state(fn, "exp_avg_sq", exp_avg_sq, param)
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    denom = np.sqrt(exp_avg_sq) / np.sqrt(bias_correction2) + eps
    param -= (lr / bias_correction1) * exp_avg / denom
