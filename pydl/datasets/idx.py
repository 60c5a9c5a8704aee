"""IDX files (MNIST, Fashion-MNIST), gzipped or raw, with every header field checked.

Memory is bounded by the size the header declares: the array is allocated once at that size and the
data (inflated in 1 MiB steps for gzip) is read straight into it; inflation stops one byte past the
declared end, so a gzip bomb costs at most the declared size plus a few MiB before it is refused.
"""
import gzip
import os
import struct
import zlib

import numpy as np

# The IDX type byte -> big-endian NumPy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_DTYPE_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
_CHUNK = 1 << 20
# Deflate cannot expand data more than ~1032:1, so a gzip file can never hold more than this many
# bytes per compressed byte: a header declaring more is refused before anything is allocated.
_DEFLATE_MAX_RATIO = 1100
_MAX_DIMS = 16


class _Raw:
    """Exact reads from an uncompressed file."""

    def __init__(self, f, path):
        self.f, self.path = f, path

    def readinto(self, view):
        got = 0
        while got < len(view):
            n = self.f.readinto(view[got:])
            if not n:
                break
            got += n
        return got

    def at_end(self):
        return not self.f.read(1)


class _Gunzip:
    """Streaming gzip inflation (multi-member like ``gzip.decompress``) that never produces more
    output than asked for: each call inflates at most the bytes still wanted."""

    def __init__(self, f, path):
        self.f, self.path = f, path
        self.d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.pending = b""
        self.finished = False

    def _input(self):
        if self.d.unconsumed_tail:
            return self.d.unconsumed_tail
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        return self.f.read(_CHUNK)

    def _next_member(self):
        # After a member ends: another gzip member, trailing zero padding (which gzip tolerates), or junk.
        rest = self.d.unused_data
        while len(rest) < 2:
            more = self.f.read(_CHUNK)
            if not more:
                break
            rest += more
        if not rest:
            self.finished = True
            return
        if rest[:2] == b"\x1f\x8b":
            self.d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self.pending = rest
            return
        while rest:
            if rest.strip(b"\0"):
                raise ValueError(f"{self.path}: trailing garbage after the gzip data")
            rest = self.f.read(_CHUNK)
        self.finished = True

    def readinto(self, view):
        got = 0
        try:
            while got < len(view) and not self.finished:
                if self.d.eof:
                    self._next_member()
                    continue
                data = self._input()
                if not data:
                    raise ValueError(f"{self.path}: corrupt or truncated gzip data (ends inside the stream)")
                out = self.d.decompress(data, min(len(view) - got, _CHUNK))
                view[got:got + len(out)] = out
                got += len(out)
        except zlib.error as e:
            raise ValueError(f"{self.path}: corrupt or truncated gzip data ({e})") from None
        return got

    def at_end(self):
        # Inflate at most one more byte: any output means the data is longer than declared.
        return self.readinto(memoryview(bytearray(1))) == 0


def _open_source(f, path):
    magic = f.read(2)
    f.seek(0)
    # Decide by content, not by name: a file renamed without ".gz" (or gunzipped in place) still loads.
    return _Gunzip(f, path) if magic == b"\x1f\x8b" else _Raw(f, path)


def _read_exact(source, n):
    buf = bytearray(n)
    return bytes(buf[:source.readinto(memoryview(buf))])


def read_idx(path, ndim=None):
    """The array stored in the IDX file ``path`` (native byte order).

    Raises ``ValueError`` naming the file when the magic number is not IDX, the number of dimensions
    is not ``ndim`` (when given) or absurd, or the data is shorter or longer than the header says.
    Memory use stays below the header-declared size plus a few MiB, whatever the file inflates to.
    """
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        source = _open_source(f, path)
        compressed = isinstance(source, _Gunzip)
        magic = _read_exact(source, 4)
        if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
            raise ValueError(f"{path}: not an IDX file (magic number {magic.hex() or 'missing'}; "
                             "expected 0000 followed by a type byte and the number of dimensions)")
        dtype = np.dtype(_IDX_TYPES[magic[2]])
        n_dims = magic[3]
        if ndim is not None and n_dims != ndim:
            raise ValueError(f"{path}: IDX file has {n_dims} dimensions, expected {ndim}")
        if n_dims > _MAX_DIMS:
            raise ValueError(f"{path}: IDX header declares {n_dims} dimensions (at most {_MAX_DIMS} supported)")
        header = 4 + 4 * n_dims
        dims = _read_exact(source, 4 * n_dims)
        if len(dims) < 4 * n_dims:
            raise ValueError(f"{path}: truncated IDX header ({4 + len(dims)} bytes, need {header})")
        shape = struct.unpack(f">{n_dims}I", dims)
        count = 1
        for d in shape:
            count *= d
        expected = count * dtype.itemsize
        if not compressed and file_size - header != expected:
            state = "truncated" if file_size - header < expected else "has trailing bytes"
            raise ValueError(f"{path}: IDX file {state}: header says shape {shape} ({expected} data bytes), "
                             f"found {file_size - header}")
        if compressed and expected > _DEFLATE_MAX_RATIO * file_size:
            raise ValueError(f"{path}: IDX file truncated: header says shape {shape} ({expected} data bytes), "
                             f"more than a {file_size}-byte gzip file can hold")
        try:
            out = np.empty(count, dtype=dtype)
        except (MemoryError, ValueError) as e:
            raise ValueError(f"{path}: IDX header declares shape {shape}, too large to allocate ({e})") from None
        got = source.readinto(memoryview(out).cast("B")) if expected else 0
        if got < expected:
            raise ValueError(f"{path}: IDX file truncated: header says shape {shape} ({expected} data bytes), "
                             f"found {got}")
        if not source.at_end():
            raise ValueError(f"{path}: IDX file has trailing bytes: header says shape {shape} "
                             f"({expected} data bytes), the file holds more")
    if not dtype.isnative:
        out.byteswap(inplace=True)  # in place: no second copy of the data
        out = out.view(dtype.newbyteorder("="))
    return out.reshape(shape)


def write_idx(path, array, compress=None):
    """Write ``array`` as an IDX file; gzip it when ``compress`` is true (default: ``path`` ends in .gz)."""
    array = np.asarray(array)
    code = _DTYPE_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"write_idx: IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(_IDX_TYPES[code]).tobytes()
    if compress is None:
        compress = str(path).endswith(".gz")
    with open(path, "wb") as f:
        f.write(gzip.compress(data, mtime=0) if compress else data)
