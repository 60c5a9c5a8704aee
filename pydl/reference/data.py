"""NumPy twins of :mod:`pydl.data`'s compiled code: :func:`gather_transform` (same signature and checks,
whole-batch NumPy: pad, fancy-index the windows, mirror, normalize) and :class:`DataLoader`, the same
iterator with its batches filled by that twin. Both give the compiled results bit for bit.

Not part of :mod:`pydl.reference`'s kernel table (the loader is no backend kernel): import it by name.
"""
import numpy as np

from ..data import DataLoader as _CompiledLoader
from ..data._checks import gather_transform_args

__all__ = ["DataLoader", "gather_transform"]


def gather_transform(x, index, out, shift_y=None, shift_x=None, flip=None, mean=None, scale=None, *, threads=1):
    x, index, out, shift_y, shift_x, flip, mean, scale, threads = gather_transform_args(
        "gather_transform", x, index, out, shift_y, shift_x, flip, mean, scale, threads)
    b, c, ho, wo = out.shape
    h, w = x.shape[2:]
    # A shift beyond the image reads only padding; clipping it keeps the padded copy small.
    dy, dx = np.clip(shift_y, -ho, h), np.clip(shift_x, -wo, w)
    padded = np.pad(x[index].astype(out.dtype), ((0, 0), (0, 0), (ho, ho), (wo, wo)))
    rows = ho + dy[:, None] + np.arange(ho)
    cols = wo + dx[:, None] + np.arange(wo)
    batch = padded[np.arange(b)[:, None, None, None], np.arange(c)[None, :, None, None],
                   rows[:, None, :, None], cols[:, None, None, :]]
    mirrored = flip.astype(bool)
    batch[mirrored] = batch[mirrored][..., ::-1]
    if mean is not None:
        per = (c, 1, 1) if mean.shape[0] == c else (c, ho, wo)  # one value per channel or per output feature
        batch = (batch - mean.reshape(per)) * scale.reshape(per)
    out[...] = batch
    return out


class DataLoader(_CompiledLoader):
    """:class:`pydl.data.DataLoader` with every batch filled by the NumPy :func:`gather_transform`."""

    def _fill(self, index, shift_y, shift_x, flip, out, mean, scale):
        gather_transform(self._images, index, out, shift_y, shift_x, flip, mean, scale)
