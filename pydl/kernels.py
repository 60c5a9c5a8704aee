"""The C++ kernels, float32 and float64, NumPy arrays in and out.

Every function here has a pure-NumPy twin with the same name and signature in :mod:`pydl.reference`.
Arrays must be C-contiguous, aligned float32 or float64 ndarrays of one dtype (a subclass such as
np.matrix is read as the plain array; masked arrays and zero-stride broadcast views are refused);
outputs (``out=`` and friends) are written in place, must match exactly and may not overlap an input
(the activations accept ``out`` being the input itself). Scalars must be plain ints/floats/bools (or
NumPy scalars), finite, and geometry values at most 2**31 - 1. Bad input raises ``TypeError``/``ValueError``
naming the argument and the shapes, before anything is written; NaN in an input raises ``ValueError``, and
so does inf in softmax, loss and optimizer inputs. ``help(pydl.kernels.NAME)`` documents each.
"""
from . import _core

# Not kernels: build facts and settings (the training plan, _TrainingPlan, is private: see pydl.plan).
_NOT_KERNELS = {"build_info", "set_num_threads", "get_num_threads", "set_simd_level"}

__all__ = sorted(n for n in dir(_core) if not n.startswith("_") and n not in _NOT_KERNELS)
globals().update({name: getattr(_core, name) for name in __all__})
