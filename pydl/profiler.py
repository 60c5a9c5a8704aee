"""A profiler students can read: time per kernel and per layer, forward and backward.

    with pydl.profile() as prof:
        net.fit(x, y, epochs=100)
    print(prof)            # or prof.table(), prof.stats

Inside the block every kernel call (whichever backend) and every layer's forward/backward is timed;
outside it nothing is wrapped, so profiling costs nothing when it is off. Inside the block ``fit`` takes
the Python path (the training plan, pydl.plan, has no per-kernel boundaries to time).
"""
import functools
import time
import types
from collections import defaultdict

from . import backend as _backend

__all__ = ["Profile", "profile"]


class _Stat:
    __slots__ = ("calls", "seconds")

    def __init__(self):
        self.calls = 0
        self.seconds = 0.0


class Profile:
    """Timings gathered by :func:`profile`: ``stats[(kind, name)]`` with ``calls`` and ``seconds``."""

    def __init__(self):
        self.stats = defaultdict(_Stat)
        self.wall = 0.0

    def record(self, kind, name, seconds):
        stat = self.stats[(kind, name)]
        stat.calls += 1
        stat.seconds += seconds

    def rows(self):
        """(kind, name, calls, total seconds, share of wall time) sorted by total time, largest first."""
        wall = self.wall or 1.0
        rows = [(kind, name, s.calls, s.seconds, s.seconds / wall) for (kind, name), s in self.stats.items()]
        return sorted(rows, key=lambda r: (r[0] != "layer", -r[3]))

    def table(self):
        """A Markdown table: layers first (their time includes their kernels), then kernels."""
        lines = [f"Profile: {self.wall * 1e3:.2f} ms wall time",
                 "",
                 "| kind | name | calls | total ms | mean µs | % of wall |",
                 "|---|---|---:|---:|---:|---:|"]
        for kind, name, calls, seconds, share in self.rows():
            lines.append(f"| {kind} | {name} | {calls} | {seconds * 1e3:.3f} | {seconds / calls * 1e6:.2f} "
                         f"| {share * 100:.1f}% |")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


class _TimedKernels(types.SimpleNamespace):
    """A backend whose every function records its time in a Profile."""


def _timed_backend(module, prof, cache):
    if module not in cache:
        timed = _TimedKernels()
        names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
        for name in names:
            setattr(timed, name, _timed_call(getattr(module, name), prof, "kernel", name))
        cache[module] = timed
    return cache[module]


def _timed_call(fn, prof, kind, name):
    @functools.wraps(fn)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            prof.record(kind, name, time.perf_counter() - start)
    return timed


def _timed_method(method, prof, phase, active):
    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        # A subclass calling its parent's forward must not be counted twice.
        if id(self) in active:
            return method(self, *args, **kwargs)
        active.add(id(self))
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            active.discard(id(self))
            prof.record("layer", f"{type(self).__name__}.{phase}", time.perf_counter() - start)
    return timed


def _layer_classes():
    from .nn.base import Layer

    seen, todo = [], [Layer]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return seen


class profile:
    """Context manager that times kernels and layers while it is open; ``as prof`` gives the Profile."""

    def __init__(self):
        self.profile = Profile()
        self._patched = []

    def __enter__(self):
        prof, cache, active = self.profile, {}, set()
        if _backend.kernel_wrapper is not None:
            raise RuntimeError("pydl.profile() is already running; profiles do not nest")
        self._patched.append((_backend, "kernel_wrapper", None))
        _backend.kernel_wrapper = lambda module: _timed_backend(module, prof, cache)
        for cls in _layer_classes():
            for phase in ("forward", "backward"):
                if phase in cls.__dict__:
                    self._patched.append((cls, phase, cls.__dict__[phase]))
                    setattr(cls, phase, _timed_method(cls.__dict__[phase], prof, phase, active))
        self._start = time.perf_counter()
        return prof

    def __exit__(self, *exc):
        self.profile.wall = time.perf_counter() - self._start
        for owner, attr, original in reversed(self._patched):
            setattr(owner, attr, original)
        self._patched.clear()
        return False
