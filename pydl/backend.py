"""Compatibility: ``pydl.backend`` is :mod:`pydl.backends` (one module object, so its default and profiler
hook are shared)."""
import sys

from . import backends

sys.modules[__name__] = backends
