"""Transforms of :class:`pydl.data.DataLoader`: translation (random crop of a zero-padded image),
horizontal flip and normalization, applied in that order inside the loader's batch gather.

Random transforms draw their numbers once per epoch from the loader's generator, with NumPy, after the
epoch's order and in a fixed order (crop rows, crop columns, flips; one value per sample of the epoch, in
batch order), so a loader yields the same batches for the same seed and epoch and its NumPy twin
(:class:`pydl.reference.data.DataLoader`) reproduces them exactly.
"""
import numbers

import numpy as np

__all__ = ["Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "feature_stats"]


def _pair(fn, name, v):
    v = (v, v) if isinstance(v, numbers.Integral) else tuple(v)
    if len(v) != 2 or not all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in v):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {v!r}")
    return int(v[0]), int(v[1])


class Transform:
    """Base class; ``random`` says whether the transform draws numbers (fit's plan stays without any)."""
    random = False


class RandomCrop(Transform):
    """A random ``size`` window of the image padded by ``padding`` zeros on every side (torchvision's
    ``RandomCrop(size, padding)``): with ``size`` equal to the image, a random translation by up to
    ``padding`` pixels. Padding is 0 in the stored data's units, before normalization."""
    random = True

    def __init__(self, size, padding=0):
        self.size = _pair("RandomCrop", "size", size)
        self.padding = _pair("RandomCrop", "padding", padding)
        if min(self.size) < 1 or min(self.padding) < 0:
            raise ValueError(f"RandomCrop: size must be >= 1 and padding >= 0, got size {self.size}, "
                             f"padding {self.padding}")

    def spans(self, height, width):
        """How many window positions there are along each axis of a ``height`` x ``width`` image."""
        spans = tuple(n + 2 * p - s + 1 for n, p, s in zip((height, width), self.padding, self.size))
        if min(spans) < 1:
            raise ValueError(f"RandomCrop: size {self.size} is larger than the padded image "
                             f"({height + 2 * self.padding[0]}, {width + 2 * self.padding[1]})")
        return spans

    def draw(self, rng, n, height, width):
        """Per-sample shifts (rows, columns): output pixel (i, j) reads image pixel (i + dy, j + dx)."""
        span_y, span_x = self.spans(height, width)
        return rng.integers(0, span_y, n) - self.padding[0], rng.integers(0, span_x, n) - self.padding[1]

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p`` (torchvision's ``RandomHorizontalFlip``)."""
    random = True

    def __init__(self, p=0.5):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def draw(self, rng, n):
        return rng.random(n) < self.p

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class Normalize(Transform):
    """``(v - mean) / std`` per channel (``mean``/``std`` of shape (C,)), per feature (the sample's shape
    or its size) or one scalar, in the stored data's units (0..255 for uint8: ``Normalize(0, 255)``
    scales to [0, 1]). Computed as ``(v - mean) * (1 / std)`` in the batch dtype."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all()) or (self.std <= 0).any():
            raise ValueError("Normalize: mean must be finite and std finite and positive")

    @classmethod
    def fit(cls, x, per="feature", chunk=1024):
        """Normalize with the mean and std of ``x`` (N, ...) per feature or per channel (axis 1), computed in
        float64 chunks of rows (no float copy of ``x``); a constant feature keeps std 1."""
        mean, std = feature_stats(x, per, chunk)
        return cls(mean, std)

    def arrays(self, channels, sample_shape, dtype):
        """(mean, scale) in ``dtype``: one value per channel (C,) when mean and std are scalars or per
        channel, else one per feature of a sample."""
        size = int(np.prod(sample_shape))
        shaped = []
        for name, a in (("mean", self.mean), ("std", self.std)):
            if a.size == 1:
                a = np.full(channels, a.reshape(-1)[0])
            elif not (a.ndim == 1 and a.size == channels) and a.size != size:
                raise ValueError(f"Normalize: {name} has shape {a.shape}; expected one value, one per channel "
                                 f"({channels}) or one per feature ({tuple(sample_shape)})")
            shaped.append(a.reshape(-1))
        if any(a.size != channels for a in shaped):  # one is per feature: both are
            shaped = [np.broadcast_to(a.reshape(channels, -1), (channels, size // channels)).reshape(-1)
                      for a in shaped]
        mean, std = shaped
        return np.ascontiguousarray(mean, dtype=dtype), np.ascontiguousarray(1.0 / std, dtype=dtype)

    def __repr__(self):
        return f"Normalize(mean of shape {self.mean.shape}, std of shape {self.std.shape})"


class Compose:
    """A list of transforms (torchvision's name); the loader applies crop, flip, normalize in that order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)


def pipeline(transform):
    """(crop, flip, normalize) from ``transform``: None, one transform, a Compose or a list, at most one of
    each kind and in the order they are applied."""
    if transform is None:
        items = []
    elif isinstance(transform, Compose):
        items = transform.transforms
    elif isinstance(transform, Transform):
        items = [transform]
    elif isinstance(transform, (list, tuple)):
        items = list(transform)
    else:
        raise TypeError(f"DataLoader: transform must be a transform of pydl.data.transforms, a list of them or "
                        f"None, got {type(transform).__name__}")
    kinds = (RandomCrop, RandomHorizontalFlip, Normalize)
    found = [None, None, None]
    last = -1
    for t in items:
        k = next((i for i, kind in enumerate(kinds) if isinstance(t, kind)), None)
        if k is None:
            raise TypeError(f"DataLoader: transform items must be RandomCrop, RandomHorizontalFlip or Normalize, "
                            f"got {type(t).__name__}")
        if k <= last:
            raise ValueError("DataLoader: transform must list at most one RandomCrop, RandomHorizontalFlip and "
                             "Normalize, in that order (the order they are applied in)")
        found[k], last = t, k
    return tuple(found)


def feature_stats(x, per="feature", chunk=1024):
    """Mean and std of ``x`` (N, ...) over the samples, per feature (shape ``x.shape[1:]``) or per channel
    (axis 1, shape (C,)), in float64, reading ``chunk`` rows at a time (no float copy of a uint8 ``x``);
    a std of 0 becomes 1 so normalizing never divides by zero."""
    if per not in ("feature", "channel"):
        raise ValueError(f"feature_stats: per must be 'feature' or 'channel', got {per!r}")
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"feature_stats: x must have shape (N, ...) with N >= 1, got {x.shape}")
    axes = (0,) if per == "feature" else (0,) + tuple(range(2, x.ndim))
    count = x.shape[0] * (1 if per == "feature" else int(np.prod(x.shape[2:])))
    total = 0.0
    for s in range(0, x.shape[0], chunk):
        total = total + x[s:s + chunk].sum(axis=axes, dtype=np.float64)
    mean = total / count
    shape = (1,) + mean.shape if per == "feature" else (1, -1) + (1,) * (x.ndim - 2)
    sq = 0.0
    for s in range(0, x.shape[0], chunk):  # two passes: sum of squared deviations, stable like np.std
        sq = sq + np.square(x[s:s + chunk] - mean.reshape(shape)).sum(axis=axes)
    std = np.sqrt(sq / count)
    std[std == 0] = 1
    return mean, std
