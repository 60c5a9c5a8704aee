"""IDX files (MNIST, Fashion-MNIST), gzipped or raw, with every header field checked."""
import gzip
import struct
import zlib

import numpy as np

# The IDX type byte -> big-endian NumPy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_DTYPE_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    # Decide by content, not by name: a file renamed without ".gz" (or gunzipped in place) still loads.
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return raw


def read_idx(path, ndim=None):
    """The array stored in the IDX file ``path`` (native byte order).

    Raises ``ValueError`` naming the file when the magic number is not IDX, the number of dimensions
    is not ``ndim`` (when given), or the data is shorter or longer than the header says.
    """
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (magic number {raw[:4].hex() or 'missing'}; "
                         "expected 0000 followed by a type byte and the number of dimensions)")
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    n_dims = raw[3]
    if ndim is not None and n_dims != ndim:
        raise ValueError(f"{path}: IDX file has {n_dims} dimensions, expected {ndim}")
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    shape = struct.unpack(f">{n_dims}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        state = "truncated" if len(raw) - header < expected else "has trailing bytes"
        raise ValueError(f"{path}: IDX file {state}: header says shape {shape} ({expected} data bytes), "
                         f"found {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


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
