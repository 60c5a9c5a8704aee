"""Layers: ``Dense``/``Linear``, ``Conv2D``, ``MaxPool2D``, ``AvgPool2D``, ``Flatten``, ``Dropout``, ``BatchNorm1d``/``BatchNorm2d`` and the activations
``Sigmoid``, ``ReLU``, ``LeakyReLU``, ``Tanh``, ``Softmax``. See :class:`Layer` for the protocol they share."""
from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer, Parameter
from .dropout import Dropout
from .layers import AvgPool2D, Conv2D, Dense, Flatten, Linear, MaxPool2D
from .normalization import BatchNorm1d, BatchNorm2d

__all__ = ["AvgPool2D", "BatchNorm1d", "BatchNorm2d", "Conv2D", "Dense", "Dropout", "Flatten", "Layer", "LeakyReLU", "Linear", "MaxPool2D", "Parameter", "ReLU",
           "Sigmoid", "Softmax", "Tanh", "register_layer"]

LAYERS = {cls.__name__: cls for cls in (AvgPool2D, BatchNorm1d, BatchNorm2d, Conv2D, Dense, Dropout, Flatten, LeakyReLU, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh)}

# Users' layer classes that pydl.load may build, by class name (see register_layer).
REGISTERED = {}


def register_layer(cls=None, *, name=None):
    """Let :func:`pydl.load` rebuild networks holding the layer class ``cls``: as a decorator
    (``@pydl.register_layer``) or a call (``pydl.register_layer(MyLayer)``). The class must be a
    :class:`Layer` whose ``get_config()`` returns its constructor's keyword arguments as JSON values;
    load calls ``cls(**config)`` and then ``set_dtype``. ``name`` (default: the class name) is what files
    record. Returns the class."""
    def register(c):
        if not (isinstance(c, type) and issubclass(c, Layer)):
            raise TypeError(f"register_layer: expected a pydl.nn.Layer subclass, got {c!r:.80}")
        key = c.__name__ if name is None else name
        if not isinstance(key, str) or not key:
            raise TypeError(f"register_layer: name must be a non-empty string, got {key!r:.80}")
        if key in LAYERS or REGISTERED.get(key, c) is not c:
            raise ValueError(f"register_layer: the name {key!r} already belongs to "
                             f"{(LAYERS.get(key) or REGISTERED[key]).__qualname__}; pass name=")
        REGISTERED[key] = c
        c._registered_name = key
        return c
    return register if cls is None else register(cls)
