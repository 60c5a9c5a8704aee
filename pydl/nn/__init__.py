"""Layers: ``Dense``/``Linear``, ``Conv2D``, ``MaxPool2D``, ``AvgPool2D``, ``Flatten`` and the activations
``Sigmoid``, ``ReLU``, ``Tanh``, ``Softmax``. See :class:`Layer` for the protocol they share."""
from .activations import ReLU, Sigmoid, Softmax, Tanh
from .base import Layer, Parameter
from .layers import AvgPool2D, Conv2D, Dense, Flatten, Linear, MaxPool2D

__all__ = ["AvgPool2D", "Conv2D", "Dense", "Flatten", "Layer", "Linear", "MaxPool2D", "Parameter", "ReLU",
           "Sigmoid", "Softmax", "Tanh"]

LAYERS = {cls.__name__: cls for cls in (AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh)}
