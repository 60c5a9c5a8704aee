"""Pure-NumPy reference kernels: the same names and signatures as :mod:`pydl.kernels`.

Readable over fast. They are the oracle the C++ kernels are tested against, and the "numpy" backend.
"""
from .activations import *  # noqa: F401,F403
from .batch import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dense import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
from . import activations, batch, conv, dense, dropout, losses, normalization, optim

__all__ = sorted(activations.__all__ + batch.__all__ + conv.__all__ + dense.__all__ + dropout.__all__ + losses.__all__ + normalization.__all__ + optim.__all__)
