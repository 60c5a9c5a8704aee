# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled half of :mod:`pydl.data`: the fused batch gather (rows of uint8/float images -> a float
batch, translated with zero padding, mirrored and normalized in one pass per sample, without the GIL) and
the :class:`DataLoader` iterator around it.

The NumPy twins are :func:`pydl.reference.data.gather_transform` (same signature, same results bit for bit;
both check their arguments with :func:`pydl.data._checks.gather_transform_args` before anything is written)
and :class:`pydl.reference.data.DataLoader`, which fills the same batches through that twin.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython.parallel cimport parallel, threadid
from openmp cimport omp_get_num_threads
from libc.stdint cimport int64_t, uint8_t

import numpy as np

from pydl import _core, _info
from pydl import random as _random
from pydl.data._checks import gather_transform_args
from pydl.data.transforms import pipeline

cdef extern from "augment_api.h":
    ctypedef struct PydlAugmentGeometry:
        int64_t channels, height, width, out_height, out_width
    ctypedef void (*PydlAugmentSampleFn)(const void* img, void* out, const PydlAugmentGeometry* g, int64_t shift_y,
                                         int64_t shift_x, int flip, const void* mean, const void* scale,
                                         int per_channel) noexcept nogil
    ctypedef struct PydlAugmentApi:
        PydlAugmentSampleFn sample[3][2]
    void pydl_prefetch(const void* p, int64_t n) noexcept nogil

# The per-sample kernel (csrc/cpu/augment*.cpp), in _core's dispatch to this CPU's instruction set.
cdef const PydlAugmentApi* _api = <const PydlAugmentApi*>PyCapsule_GetPointer(_core._augment_api,
                                                                              b"pydl._core.augment_api")

# Below this many output elements per batch one thread is faster: an OpenMP fork/join costs more than it
# saves. Measured on 2 cores (scripts/bench.py loader): 32x3x32x32 batches gain nothing from 2 threads.
cdef Py_ssize_t _MIN_PARALLEL_ELEMENTS = 1 << 18

_SOURCE_CODES = {np.dtype(np.uint8): 0, np.dtype(np.float32): 1, np.dtype(np.float64): 2}
_OUT_CODES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}


cdef void _gather_range(PydlAugmentSampleFn sample, const uint8_t* x, Py_ssize_t image_bytes,
                        const PydlAugmentGeometry* g, const int64_t* index, uint8_t* out, Py_ssize_t sample_bytes,
                        const int64_t* shift_y, const int64_t* shift_x, const uint8_t* flip, const void* mean,
                        const void* scale, int per_channel, Py_ssize_t begin, Py_ssize_t end,
                        Py_ssize_t then) noexcept nogil:
    """Samples [begin, end), each while the image of the one after it is prefetched: ``then`` after the
    last (the first this thread takes of the next batch, or -1)."""
    cdef Py_ssize_t b, following
    for b in range(begin, end):
        following = b + 1 if b + 1 < end else then
        if following >= 0:
            pydl_prefetch(x + index[following] * image_bytes, image_bytes)
        sample(x + index[b] * image_bytes, out + b * sample_bytes, g, shift_y[b], shift_x[b], flip[b], mean, scale,
               per_channel)


cdef void _gather(PydlAugmentSampleFn sample, const uint8_t* x, Py_ssize_t image_bytes,
                  const PydlAugmentGeometry* g, const int64_t* index, uint8_t* out, Py_ssize_t sample_bytes,
                  const int64_t* shift_y, const int64_t* shift_x, const uint8_t* flip, const void* mean,
                  const void* scale, int per_channel, Py_ssize_t batch, Py_ssize_t ahead,
                  int threads) noexcept nogil:
    """``out`` sample b from ``x`` sample ``index[b]``, each thread a contiguous range of the batch (the same
    range in the next batch, whose first image it prefetches: ``index`` holds ``ahead`` more samples after
    the batch). Samples are independent and each is written by one thread: results never depend on
    ``threads``."""
    cdef Py_ssize_t begin, end
    cdef int t, nt
    if threads <= 1:
        _gather_range(sample, x, image_bytes, g, index, out, sample_bytes, shift_y, shift_x, flip, mean, scale,
                      per_channel, 0, batch, batch if ahead > 0 else -1)
        return
    with parallel(num_threads=threads):
        t = threadid()
        nt = omp_get_num_threads()
        begin = batch * t // nt
        end = batch * (t + 1) // nt
        _gather_range(sample, x, image_bytes, g, index, out, sample_bytes, shift_y, shift_x, flip, mean, scale,
                      per_channel, begin, end, begin + batch if begin < ahead else -1)


cdef PydlAugmentSampleFn _kernel(source, out):
    """The per-sample kernel for source and output dtypes."""
    return _api.sample[_SOURCE_CODES[np.dtype(source)]][_OUT_CODES[np.dtype(out)]]


cdef PydlAugmentGeometry _geometry(image, out_image):
    cdef PydlAugmentGeometry g
    g.channels, g.height, g.width = image
    g.out_height, g.out_width = out_image[1], out_image[2]
    return g


cdef bint _per_channel(mean, out):
    """Whether normalization reads one mean and scale per channel of ``out`` (B, C, Ho, Wo), not per feature."""
    return mean is not None and mean.shape[0] == out.shape[1]


cdef const uint8_t[::1] _bytes(a):
    """The bytes of a C-contiguous array (read-only ones too), for a pointer to its data."""
    return a.reshape(-1).view(np.uint8)


cdef _dispatch(x, index, out, shift_y, shift_x, flip, mean, scale, int threads):
    """Runs the kernel for x's and out's dtypes on checked arrays: x (N, C, H, W), out (B, C, Ho, Wo)."""
    cdef PydlAugmentGeometry g = _geometry(x.shape[1:], out.shape[1:])
    cdef const uint8_t[::1] xv = _bytes(x), fv = flip.view(np.uint8)
    cdef uint8_t[::1] ov = out.reshape(-1).view(np.uint8)
    cdef const int64_t[::1] iv = index, yv = shift_y, xsv = shift_x
    cdef const uint8_t[::1] mv, sv
    cdef const void* mp = NULL
    cdef const void* sp = NULL
    cdef int per_channel = _per_channel(mean, out)
    if mean is not None:
        mv, sv = _bytes(mean), _bytes(scale)
        mp, sp = &mv[0], &sv[0]
    cdef PydlAugmentSampleFn sample = _kernel(x.dtype, out.dtype)
    cdef Py_ssize_t image_bytes = x[0].nbytes, sample_bytes = out[0].nbytes, batch = out.shape[0]
    with nogil:
        _gather(sample, &xv[0], image_bytes, &g, &iv[0], &ov[0], sample_bytes, &yv[0], &xsv[0], &fv[0], mp, sp,
                per_channel, batch, 0, threads)


def gather_transform(x, index, out, shift_y=None, shift_x=None, flip=None, mean=None, scale=None, *,
                     threads=1):
    """``out[b] = normalize(flip(translate(x[index[b]])))`` for images ``x`` (N, C, H, W) and a batch
    ``out`` (B, C, Ho, Wo): ``out[b, c, i, j]`` reads ``x[index[b], c, i + shift_y[b], j' + shift_x[b]]``
    with ``j' = Wo - 1 - j`` when ``flip[b]`` (else ``j``), and 0 outside the image; then
    ``(v - mean) * scale`` when given, in ``out``'s dtype: ``mean``/``scale`` of shape (C,) hold one value
    per channel, of shape (C*Ho*Wo,) one per output feature.
    ``x``: uint8, float32 or float64; ``out``: float32 or float64; ``index``, ``shift_*``: int64 (B,),
    ``flip``: bool/uint8 (B,), all C-contiguous. ``threads``: OpenMP threads over the batch."""
    x, index, out, shift_y, shift_x, flip, mean, scale, threads = gather_transform_args(
        "gather_transform", x, index, out, shift_y, shift_x, flip, mean, scale, threads)
    _dispatch(x, index, out, shift_y, shift_x, flip, mean, scale, threads)
    return out


def _cache_aligned(shape, dtype):
    """np.empty(shape, dtype) starting on a 64-byte boundary: NumPy's large buffers start 16 bytes past a
    page, which splits every 64-byte store of the batch gather across two cache lines."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start:start + nbytes].view(dtype).reshape(shape)


cdef inline int _threads_for(Py_ssize_t elements, int threads) noexcept:
    """The threads for a batch of this many output elements: ``threads``, or 1 below the threshold."""
    return threads if elements >= _MIN_PARALLEL_ELEMENTS else 1


_SOURCES = (np.uint8, np.float32, np.float64)


def _image_shape(x, image_shape):
    """(C, H, W) of one sample: x (N, C, H, W), (N, H, W) (one channel), or flat (N, D) read as
    ``image_shape`` (without it, as a 1 x 1 x D "image" that only Normalize can act on)."""
    if image_shape is not None:
        if x.ndim != 2:
            raise ValueError(f"DataLoader: image_shape is for flat x (N, D); x has shape {x.shape}")
        shape = tuple(int(d) for d in image_shape)
        shape = (1,) + shape if len(shape) == 2 else shape
        if len(shape) != 3 or min(shape) < 1 or int(np.prod(shape)) != x.shape[1]:
            raise ValueError(f"DataLoader: image_shape must be (C, H, W) or (H, W) with {x.shape[1]} values "
                             f"in all, got {image_shape!r}")
        return shape, True
    if x.ndim == 4:
        return x.shape[1:], True
    if x.ndim == 3:
        return (1,) + x.shape[1:], True
    if x.ndim == 2:
        return (1, 1, x.shape[1]), False
    raise ValueError(f"DataLoader: x must have shape (N, D), (N, H, W) or (N, C, H, W), got {x.shape}")


cdef class DataLoader:
    """Batches ``(xb, yb)`` of ``(x, y)`` in a float dtype, shuffled, augmented and normalized on the fly.

    ``x`` is stored as given (uint8 keeps a CIFAR-10 training set at 150 MB instead of 600 MB in float32):
    ``(N, C, H, W)``, ``(N, H, W)`` or flat ``(N, D)`` (with ``image_shape=(C, H, W)`` for image
    transforms). ``y`` (any array of N rows, or None: then only ``xb`` is yielded) is gathered as is.
    ``transform``: :class:`~pydl.data.transforms.RandomCrop`, :class:`~pydl.data.transforms.RandomHorizontalFlip`
    and :class:`~pydl.data.transforms.Normalize`, alone, in a list or a Compose, applied in that order in
    one compiled pass per batch (``nogil``, threads for large batches). ``dtype``: of ``xb``; None is
    float32 for uint8 x (fit uses the network's dtype).

    Each ``iter(loader)`` is the next epoch (``loader.epoch`` counts them; set it to replay one): its
    order and random numbers come from ``numpy.random.default_rng([seed, epoch])``, so the same seed
    and epoch give the same batches. ``seed=None`` draws one from pydl's global generator
    (:func:`pydl.manual_seed` makes it reproducible). ``xb`` and ``yb`` are buffers reused by the next
    batch of the epoch: copy them to keep them.
    """
    cdef readonly object x, y, dtype, sample_shape, image, transform, seed
    cdef readonly Py_ssize_t batch_size, n
    cdef readonly bint shuffle, drop_last
    cdef public long long epoch
    cdef readonly object _images  # x as (N, C, H, W), read by the twin
    cdef object _crop, _flip, _norm, _out_image, _norm_cache

    def __init__(self, x, y=None, batch_size=32, shuffle=True, seed=None, transform=None, drop_last=False, *,
                 dtype=None, image_shape=None):
        if type(x) is not np.ndarray:
            x = np.asarray(x)
        if x.dtype.type not in _SOURCES:
            raise TypeError(f"DataLoader: x must be uint8, float32 or float64, got dtype {x.dtype}")
        if x.ndim < 2 or x.shape[0] == 0 or min(x.shape[1:]) == 0:
            raise ValueError(f"DataLoader: x must have shape (N, ...) with N >= 1 and no empty axis, got {x.shape}")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise ValueError("DataLoader: x contains NaN or infinity")
        if y is not None:
            if type(y) is not np.ndarray:
                y = np.asarray(y)
            if y.ndim == 0 or y.shape[0] != x.shape[0]:
                raise ValueError(f"DataLoader: y has {y.shape[0] if y.ndim else 0} rows but x has {x.shape[0]}")
            y = np.ascontiguousarray(y)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.type not in (np.float32, np.float64):
                raise TypeError(f"DataLoader: dtype must be float32 or float64, got {dtype}")
        image, is_image = _image_shape(x, image_shape)
        crop, flip, norm = pipeline(transform)
        if (crop is not None or flip is not None) and not is_image:
            raise ValueError(f"DataLoader: RandomCrop and RandomHorizontalFlip need images, but x has shape "
                             f"{x.shape}; pass image_shape=(C, H, W)")
        out_image = (image[0],) + (crop.size if crop is not None else image[1:])
        if crop is not None:
            crop.spans(image[1], image[2])  # refuses a crop larger than the padded image
        if out_image == tuple(image):
            sample_shape = x.shape[1:]
        elif x.ndim == 2:
            sample_shape = (int(np.prod(out_image)),)
        else:
            sample_shape = out_image[-(x.ndim - 1):]
        if norm is not None:
            norm.arrays(out_image[0], out_image, np.float64)  # refuses mean/std of the wrong shape now
        self.x, self.y, self.n = x, y, x.shape[0]
        self._images = np.ascontiguousarray(x).reshape((x.shape[0],) + tuple(image))
        self.image, self._out_image, self.sample_shape = tuple(image), out_image, tuple(sample_shape)
        self.batch_size = min(int(batch_size), self.n)
        self.shuffle, self.drop_last, self.dtype = bool(shuffle), bool(drop_last), dtype
        self.transform = [t for t in (crop, flip, norm) if t is not None]
        self._crop, self._flip, self._norm, self._norm_cache = crop, flip, norm, {}
        self.seed = int(_random.spawn(_random.check_seed("DataLoader", seed)).integers(2 ** 63))
        self.epoch = 0

    @property
    def random(self):
        """Whether any transform draws random numbers (without, fit keeps training whole epochs natively)."""
        return any(t.random for t in self.transform)

    def __len__(self):
        return self.n // self.batch_size if self.drop_last else (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        batches = self._epoch(self.epoch, self.dtype, False)
        self.epoch += 1
        return batches

    def __repr__(self):
        return (f"DataLoader({self.n} samples of {self.x.dtype} {self.x.shape[1:]} -> {self.sample_shape}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, transform={self.transform})")

    def _epoch(self, epoch, dtype, rows):
        """The batches of ``epoch`` in ``dtype`` (None: float32 for uint8 x, else x's); with ``rows`` they
        are ``(xb, rows)``, the dataset rows of the batch instead of ``yb`` (fit gathers its own targets)."""
        if dtype is None:
            dtype = np.float32 if self.x.dtype == np.uint8 else self.x.dtype
        return _Epoch(self, np.random.default_rng([self.seed, int(epoch)]), np.dtype(dtype), rows)

    def _draw(self, rng, Py_ssize_t b):
        """Shifts and flips of ``b`` samples (an epoch's, in batch order), drawn in a fixed order: crop rows,
        crop columns, flips."""
        if self._crop is not None:
            shift_y, shift_x = self._crop.draw(rng, b, self.image[1], self.image[2])
        else:
            shift_y = shift_x = np.zeros(b, np.int64)
        flip = self._flip.draw(rng, b) if self._flip is not None else np.zeros(b, np.bool_)
        return shift_y, shift_x, flip

    def _normalization(self, dtype):
        if self._norm is None:
            return None, None
        if dtype not in self._norm_cache:
            self._norm_cache[dtype] = self._norm.arrays(self._out_image[0], self._out_image, dtype)
        return self._norm_cache[dtype]

    def _fill(self, index, shift_y, shift_x, flip, out, mean, scale):
        """Writes the batch into ``out`` (B, C, Ho, Wo): the compiled kernel (the twin overrides this)."""
        _dispatch(self._images, index, out, shift_y, shift_x, flip.view(np.uint8), mean, scale,
                  _threads_for(out.size, _info.get_num_threads()))


cdef class _Epoch:
    """One pass over a DataLoader: Python's iterator protocol around the compiled gather. The epoch's
    order and random numbers are drawn when it starts; a batch is then one nogil call over raw pointers
    (a subclass that overrides ``_fill``, such as the NumPy twin, gets array slices of the same draws)."""
    cdef object loader, order, xbuf, out, ybuf, mean, scale, shift_y, shift_x, flip
    cdef Py_ssize_t pos, end, bs, image_bytes, sample_bytes, sample_elements
    cdef bint rows, compiled, int_labels, per_channel
    cdef int threads
    cdef PydlAugmentSampleFn sample
    cdef PydlAugmentGeometry geometry
    # Views held for their pointers (the compiled path).
    cdef const uint8_t[::1] x_view, flip_view, mean_view, scale_view
    cdef const int64_t[::1] order_view, shift_y_view, shift_x_view, y_view
    cdef uint8_t[::1] out_view
    cdef int64_t[::1] ybuf_view

    def __init__(self, DataLoader loader, rng, dtype, rows):
        self.loader, self.rows = loader, rows
        n, bs = loader.n, loader.batch_size
        self.order = rng.permutation(n) if loader.shuffle else np.arange(n, dtype=np.int64)
        self.pos, self.bs = 0, bs
        self.end = n - n % bs if loader.drop_last else n
        self.shift_y, self.shift_x, flip = loader._draw(rng, self.end)
        self.flip = flip.view(np.uint8)
        self.xbuf = _cache_aligned((bs,) + loader.sample_shape, dtype)  # reused by every batch of the epoch
        self.out = self.xbuf.reshape((bs,) + tuple(loader._out_image))
        y = loader.y
        self.ybuf = None if y is None or rows else np.empty((bs,) + y.shape[1:], y.dtype)
        self.mean, self.scale = loader._normalization(np.dtype(dtype))
        self.compiled = type(loader) is DataLoader
        if self.compiled:
            self._pointers(loader, np.dtype(dtype))

    cdef _pointers(self, DataLoader loader, dtype):
        self.x_view, self.out_view = _bytes(loader._images), self.xbuf.reshape(-1).view(np.uint8)
        self.order_view, self.shift_y_view, self.shift_x_view = self.order, self.shift_y, self.shift_x
        self.flip_view = self.flip
        if self.mean is not None:
            self.mean_view, self.scale_view = _bytes(self.mean), _bytes(self.scale)
            self.per_channel = _per_channel(self.mean, self.out)
        self.sample = _kernel(loader._images.dtype, dtype)
        self.geometry = _geometry(loader.image, loader._out_image)
        self.image_bytes = loader._images[0].nbytes
        self.sample_bytes = self.out[0].nbytes
        self.threads = _info.get_num_threads()
        self.sample_elements = self.out[0].size
        y = loader.y
        self.int_labels = self.ybuf is not None and y.dtype == np.int64 and y.ndim == 1
        if self.int_labels:
            self.y_view, self.ybuf_view = y, self.ybuf

    def __iter__(self):
        return self

    def __len__(self):
        return (self.end - self.pos + self.bs - 1) // self.bs

    def __next__(self):
        if self.pos >= self.end:
            raise StopIteration
        cdef Py_ssize_t b = min(self.bs, self.end - self.pos), p = self.pos, k
        self.pos += b
        if self.compiled:
            self._fill_compiled(p, b)
        else:
            self.loader._fill(self.order[p:p + b], self.shift_y[p:p + b], self.shift_x[p:p + b],
                              self.flip[p:p + b], self.out[:b], self.mean, self.scale)
        xb = self.xbuf if b == self.bs else self.xbuf[:b]
        if self.rows:
            return xb, self.order[p:p + b]
        y = self.loader.y
        if y is None:
            return xb
        yb = self.ybuf if b == self.bs else self.ybuf[:b]
        if self.int_labels:
            for k in range(b):
                self.ybuf_view[k] = self.y_view[self.order_view[p + k]]
            return xb, yb
        return xb, np.take(y, self.order[p:p + b], axis=0, out=yb)

    cdef void _fill_compiled(self, Py_ssize_t p, Py_ssize_t b):
        cdef const void* mean = NULL
        cdef const void* scale = NULL
        if self.mean is not None:
            mean, scale = &self.mean_view[0], &self.scale_view[0]
        cdef int threads = _threads_for(b * self.sample_elements, self.threads)
        with nogil:
            _gather(self.sample, &self.x_view[0], self.image_bytes, &self.geometry, &self.order_view[p],
                    &self.out_view[0], self.sample_bytes, &self.shift_y_view[p], &self.shift_x_view[p],
                    &self.flip_view[p], mean, scale, self.per_channel, b, self.end - p - b, threads)
