"""Hostile files (issue 11): every class of crafted IDX, CIFAR and .npz file is refused with a ValueError
naming the file, in bounded time and memory, and never loads into something that crashes later.

The builders here are shared with tests/api/test_fuzz_files.py, which mutates their output.
"""
import gzip
import io
import json
import pickle
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import pydl
import pydl.datasets as ds
from pydl import nn

MB = 1 << 20


class Bounded:
    """CPU time and Python-visible peak memory (tracemalloc sees NumPy's and zlib's buffers) of a block.
    CPU time, not wall time: two cores shared with other jobs must not make these tests flaky."""

    def __enter__(self):
        tracemalloc.start()
        self.t0 = time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.process_time() - self.t0
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return False


def refused(fn, path, match=None, seconds=1.0, peak=100 * MB):
    """fn(path) must raise ValueError naming ``path`` within the time and memory limits; returns the message."""
    with Bounded() as b, pytest.raises(ValueError) as info:
        fn(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    if match:
        assert match in msg, msg
    assert b.seconds < seconds, f"{b.seconds:.2f} s: {msg}"
    assert b.peak < peak, f"{b.peak / MB:.1f} MB: {msg}"
    return msg


# ---- builders ------------------------------------------------------------------------------------

def idx_bytes(array):
    buf = io.BytesIO()
    code = {np.uint8: 8, np.int8: 9, np.int16: 11, np.int32: 12, np.float32: 13, np.float64: 14}[array.dtype.type]
    buf.write(bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape))
    buf.write(array.astype(array.dtype.newbyteorder(">")).tobytes())
    return buf.getvalue()


def gzip_bomb(header, inflated, chunk=MB):
    """A gzip stream: ``header`` then ``inflated`` zero bytes (deflate squeezes 1 MiB of zeros to ~1 KB)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [c.compress(header)]
    zeros = bytes(chunk)
    for _ in range(inflated // chunk):
        parts.append(c.compress(zeros))
    parts.append(c.compress(bytes(inflated % chunk)))
    parts.append(c.flush())
    return b"".join(parts)


def _s(b):
    """SHORT_BINSTRING / BINSTRING: how Python 2 pickled a str (read back as bytes)."""
    return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)) + b)


def _int(v):
    return b"K" + bytes([v]) if 0 <= v < 256 else b"J" + struct.pack("<i", v)


def py2_cifar_batch(data, labels, names=None):
    """A batch pickled as the official files are (Python 2, NumPy 1, protocol 2): BINSTRING keys and
    data, dtype('u1', 0, 1) with int flags and a bytes byte order, a plain list of labels."""
    n = len(labels)
    names = names if names is not None else [f"img_{i}.png".encode() for i in range(n)]
    out = [b"\x80\x02}q\x00("]
    out += [_s(b"batch_label"), _s(b"training batch 1 of 5")]
    out += [_s(b"labels"), b"](", *(_int(v) for v in labels), b"e"]
    out += [_s(b"data"), b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85",
            _s(b"b"), b"\x87Rq\x03(K\x01", _int(data.shape[0]), _int(data.shape[1]), b"\x86",
            b"cnumpy\ndtype\nq\x04", _s(b"u1"), b"K\x00K\x01\x87R(K\x03", _s(b"|"),
            b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89", _s(data.tobytes()), b"tb"]
    out += [_s(b"filenames"), b"](", *(_s(x) for x in names), b"e"]
    out += [b"u."]
    return b"".join(out)


def arch_record(layer_list, /, **extra):
    arch = {"format": "pydl.network", "version": 1, "dtype": "float32", "input_shape": None, "seed": None,
            "layers": layer_list, "loss": None, "l2": 0.0, "backend": None, "optimizer": None}
    arch.update(extra)
    return np.array(json.dumps(arch))


def deflated(name):
    """A ZipInfo for a deflated member (ZipFile.open(info, "w") compresses by the info's type)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_npz(path, members, compress=()):
    """An .npz with the given name -> array members; names in ``compress`` are deflated."""
    with zipfile.ZipFile(path, "w") as z:
        for name, a in members.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(a), allow_pickle=True)
            z.writestr(zipfile.ZipInfo(name + ".npy"), buf.getvalue(),
                       compress_type=zipfile.ZIP_DEFLATED if name in compress else zipfile.ZIP_STORED)
    return path


def dense(i, o, **cfg):
    return {"class": "Dense", "config": {"in_features": i, "out_features": o, **cfg}}


def small_net_members():
    net = pydl.Network([nn.Conv2D(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(),
                        nn.Dense(2, 3)], loss="cross_entropy", seed=0)
    from pydl.serialization import to_arrays
    return {k: np.array(v) for k, v in to_arrays(net).items()}


# ---- IDX -----------------------------------------------------------------------------------------

def test_idx_gzip_bomb_is_refused_within_twice_the_declared_size(tmp_path):
    declared = (8, 1024, 1024)  # 8 MiB declared, 256 MiB inflated: scaled down from 47 MB / 1 GiB
    p = tmp_path / "bomb-idx3-ubyte.gz"
    p.write_bytes(gzip_bomb(bytes([0, 0, 8, 3]) + struct.pack(">3I", *declared), 256 * MB))
    assert p.stat().st_size < 300_000
    refused(ds.read_idx, p, "trailing bytes", seconds=5, peak=2 * 8 * MB)


def test_idx_header_declaring_more_than_the_gzip_can_hold_allocates_nothing(tmp_path):
    p = tmp_path / "huge.gz"
    p.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1)))
    refused(ds.read_idx, p, "truncated", peak=2 * MB)
    p.write_bytes(gzip.compress(bytes([0, 0, 0x0E, 2]) + struct.pack(">2I", 60000, 60000)))  # 28.8 GB of f8
    refused(ds.read_idx, p, "truncated", peak=2 * MB)


def test_idx_raw_header_with_absurd_dims_allocates_nothing(tmp_path):
    p = tmp_path / "raw-idx"
    p.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 7) + bytes(100))
    refused(ds.read_idx, p, "truncated", peak=2 * MB)
    p.write_bytes(bytes([0, 0, 8, 255]) + bytes(4 * 255))
    refused(ds.read_idx, p, "255 dimensions")


@pytest.mark.parametrize("content,match", [
    (b"", "not an IDX file"), (b"\x00\x00", "not an IDX file"), (b"\x00\x00\x07\x01" + bytes(8), "not an IDX"),
    (b"\x01\x00\x08\x01" + bytes(8), "not an IDX"), (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated"), (b"\x00\x00\x08\x01\x00\x00\x00\x02abc", "trailing"),
    (b"\x1f\x8b", "gzip"), (b"\x1f\x8b\x08\x00" + bytes(20), "gzip"), (b"\x1f\x8bgarbage-garbage", "gzip"),
])
def test_idx_garbage_headers_name_the_file(tmp_path, content, match):
    p = tmp_path / "bad-idx1-ubyte"
    p.write_bytes(content)
    refused(ds.read_idx, p, match)


def test_idx_gzip_edge_cases(tmp_path):
    a = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    raw = idx_bytes(a)
    p = tmp_path / "a.gz"
    # Several gzip members and trailing zero padding are valid gzip (gzip.decompress reads them too).
    p.write_bytes(gzip.compress(raw[:30]) + gzip.compress(raw[30:]) + bytes(64))
    np.testing.assert_array_equal(ds.read_idx(p), a)
    p.write_bytes(gzip.compress(raw) + b"junk")
    refused(ds.read_idx, p, "trailing garbage")
    p.write_bytes(gzip.compress(raw) + gzip.compress(b"x"))
    refused(ds.read_idx, p, "trailing bytes")
    good = gzip.compress(raw)
    p.write_bytes(good[:-8] + bytes(8))  # CRC and size trailer zeroed
    refused(ds.read_idx, p, "gzip")
    p.write_bytes(good[:-3])
    refused(ds.read_idx, p, "gzip")


def test_idx_multibyte_types_come_back_native_and_writeable(tmp_path):
    for dtype in (np.int16, np.int32, np.float32, np.float64):
        a = (np.arange(24) - 7).astype(dtype).reshape(2, 3, 4)
        p = tmp_path / "m"
        p.write_bytes(idx_bytes(a))
        b = ds.read_idx(p)
        assert b.dtype == dtype and b.dtype.isnative and b.flags.writeable
        np.testing.assert_array_equal(b, a)


# ---- CIFAR pickles ---------------------------------------------------------------------------------

def test_cifar_official_python2_format_loads_fast(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (10000, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, 10000).tolist()
    p = tmp_path / "data_batch_1"
    p.write_bytes(py2_cifar_batch(data, labels))
    t0 = time.process_time()
    x, y = ds.load_cifar10_batch(p)
    assert time.process_time() - t0 < 1.0  # ~0.2 s here; an unrestricted pickle.load takes ~0.07 s
    np.testing.assert_array_equal(x, data)
    np.testing.assert_array_equal(y, labels)
    assert x.flags.writeable and y.dtype == np.int64


HOSTILE_PICKLES = {
    # 9 bytes: LONG_BINPUT at index 2^32-1 (the C unpickler grows its memo table to the index: 32 GB).
    "memo_put_huge": b"\x80\x02Nr\xff\xff\xff\xff.",
    "memo_get_huge": b"\x80\x02Nr\x00\x00\x00\x00j\xff\xff\xff\x7f.",
    "memo_get_missing": b"\x80\x02Nh\x05.",
    # numpy.ndarray((2**27,), 'O'): 2^27 references to None (1 GB) from a few dozen bytes.
    "ndarray_call": b"\x80\x02}(U\x06labelscnumpy\nndarray\nJ\x00\x00\x00\x08\x85U\x01O\x86RU\x04dataK\x00u.",
    "reconstruct_object": (b"\x80\x02}(U\x06labelscnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                           b"J\x00\x00\x00\x08\x85U\x01O\x87RU\x04dataK\x00u."),
    "dtype_object": (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
                     b"(K\x01J\x00\x00\x00\x08\x85cnumpy\ndtype\nU\x02O8K\x00K\x01\x87R\x89]tb."),
    "dtype_structured_state": (b"\x80\x02cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|N(U\x01at"
                               b"NJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb."),
    "array_short_data": (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
                         b"(K\x01J\x00\x00\x00\x08K\x10\x86cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R\x89U\x03abctb."),
    "unknown_codec": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x08\x00\x00\x00zlib_bad\x86R.",
    "rot13_codec": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R.",
    "unknown_global": b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echo\x85R.",
    "builtins_eval": b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x8c\x04eval\x93.",
    "inst_opcode": b"(X\x01\x00\x00\x00xios\nsystem\n.",
    "ext_opcode": b"\x80\x02\x82\x01.",
    "persid": b"\x80\x02P1\n.",
    "next_buffer": b"\x80\x05\x97.",
    "truncated": b"\x80\x02}q\x00(U\x04dataq",
    "empty": b"",
    "huge_binbytes_length": b"\x80\x03B\xff\xff\xff\x7f",
    "huge_frame": b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7fN.",
    "long_text_digits": b"L" + b"9" * 100_000 + b"L\n.",
    "labels_huge_int": b"\x80\x02}(U\x04dataK\x00U\x06labels]\x8a\x09" + b"\xff" * 9 + b"au.",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PICKLES))
def test_cifar_hostile_pickles_are_refused_fast_and_small(tmp_path, name):
    p = tmp_path / f"data_batch_{name}"
    p.write_bytes(HOSTILE_PICKLES[name])
    refused(ds.load_cifar10_batch, p)


def test_cifar_unknown_codec_is_a_value_error_not_lookup_error(tmp_path):
    p = tmp_path / "data_batch_1"
    p.write_bytes(HOSTILE_PICKLES["unknown_codec"])
    refused(ds.load_cifar10_batch, p, "codec")


def test_cifar_shared_references_beyond_the_opcode_limit(tmp_path):
    # 2 MB of DUP opcodes: millions of shared references to one object, refused before unpickling.
    p = tmp_path / "data_batch_1"
    p.write_bytes(b"\x80\x02N(" + b"2" * (2 * MB) + b"l.")
    refused(ds.load_cifar10_batch, p, "opcodes")


def test_cifar_oversized_file_is_refused_before_reading(tmp_path):
    p = tmp_path / "data_batch_1"
    with open(p, "wb") as f:
        f.truncate(300 * MB)  # sparse: costs no disk
    refused(ds.load_cifar10_batch, p, "too large", peak=MB)


def test_cifar_a_memoized_string_encoded_many_times_hits_the_byte_budget(tmp_path):
    # One 64 KB string, then _codecs.encode(it) 300,000 times: 19 GB of bytes without a budget.
    body = b"\x80\x02c_codecs\nencode\nq\x01X" + struct.pack("<I", 65536) + b"a" * 65536 + b"q\x02"
    body += b"(" + b"h\x01h\x02X\x06\x00\x00\x00latin1\x86R" * 30000 + b"l."
    p = tmp_path / "data_batch_1"
    p.write_bytes(body)
    refused(ds.load_cifar10_batch, p, "more data than the file holds")


def test_cifar_nested_lists_and_wrong_label_types(tmp_path):
    data = np.zeros((2, 3072), np.uint8)
    p = tmp_path / "data_batch_1"
    nested = b"\x80\x02" + b"]" * 20_000 + b"a" * 19_999 + b"."
    p.write_bytes(nested)
    refused(ds.load_cifar10_batch, p, "not a CIFAR-10 batch")
    for labels in ([0, True], [0, 1.0], [0, 2**70], [0, -1], [0], [[0], [1]]):
        p.write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=2))
        refused(ds.load_cifar10_batch, p, "b'labels'")
    p.write_bytes(pickle.dumps({b"data": data.astype(np.int64), b"labels": [0, 1]}, protocol=2))
    refused(ds.load_cifar10_batch, p, "uint8")


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_cifar_numpy_pickles_of_every_protocol_load(tmp_path, protocol):
    data = np.arange(3 * 3072, dtype=np.uint8).reshape(3, 3072)
    p = tmp_path / "b"
    p.write_bytes(pickle.dumps({b"data": data, b"labels": np.array([1, 2, 9])}, protocol=protocol))
    x, y = ds.load_cifar10_batch(p)
    np.testing.assert_array_equal(x, data)
    np.testing.assert_array_equal(y, [1, 2, 9])


# ---- pydl.load -----------------------------------------------------------------------------------

def test_npz_declared_huge_dense_without_weights_allocates_nothing(tmp_path):
    p = write_npz(tmp_path / "big.npz", {"__pydl_architecture__": arch_record([dense(20000, 20000)])})
    refused(pydl.load, p, "missing parameter 'layer0.W'", peak=5 * MB)


def test_npz_weights_header_without_data_allocates_nothing(tmp_path):
    p = tmp_path / "big.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (20000, 20000)})
    with zipfile.ZipFile(p, "w") as z:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arch_record([dense(20000, 20000, bias=False)]))
        z.writestr("__pydl_architecture__.npy", buf.getvalue())
        z.writestr("layer0.W.npy", header.getvalue() + bytes(64))
    refused(pydl.load, p, "header declares 1600000000 data bytes", peak=5 * MB)


def test_npz_unused_zip_bomb_member_is_never_inflated(tmp_path):
    members = small_net_members()
    p = tmp_path / "net.npz"
    write_npz(p, members)
    with zipfile.ZipFile(p, "a") as z:
        with z.open(deflated("bomb.npy"), "w", force_zip64=True) as w:
            zeros = bytes(4 * MB)
            for _ in range(64):  # 256 MiB of zeros, ~250 KB compressed
                w.write(zeros)
    with Bounded() as b:
        net = pydl.load(p)
    assert p.stat().st_size < 2 * MB
    assert b.seconds < 1 and b.peak < 20 * MB
    assert net.predict(np.zeros((2, 1, 4, 4), np.float32)).shape == (2,)


def test_npz_forty_thousand_flatten_layers_are_refused_quickly(tmp_path):
    p = write_npz(tmp_path / "deep.npz",
                  {"__pydl_architecture__": arch_record([{"class": "Flatten", "config": {}}] * 40000)})
    refused(pydl.load, p, "1 to 1024 layers")


@pytest.mark.parametrize("dtype", ["complex64", "complex128", "int32", "int64", "float16", "bool", "object",
                                   "V8", "<U2"])
def test_npz_parameters_of_a_non_float_dtype_are_refused(tmp_path, dtype):
    members = {"__pydl_architecture__": arch_record([dense(2, 1, bias=False)]),
               "layer0.W": np.ones((2, 1), dtype=dtype) if dtype != "object" else np.array([[1], [2]], dtype=object)}
    p = write_npz(tmp_path / "c.npz", members)
    msg = refused(pydl.load, p)
    assert "dtype" in msg or "not supported" in msg or "allow_pickle" in msg, msg


def test_npz_non_finite_weights_are_refused(tmp_path):
    p = write_npz(tmp_path / "n.npz", {"__pydl_architecture__": arch_record([dense(2, 1, bias=False)]),
                                       "layer0.W": np.array([[1.0], [np.nan]], np.float32)})
    refused(pydl.load, p, "NaN or infinite")


def conv(**cfg):
    base = {"in_channels": 1, "out_channels": 1, "kernel_size": [3, 3], "stride": [1, 1], "padding": [0, 0]}
    return {"class": "Conv2D", "config": {**base, **cfg}}


@pytest.mark.parametrize("layer", [
    conv(stride=[2**62, 2**62]), conv(stride=2**63 - 1), conv(padding=[2**63 - 5, 0]), conv(stride=[10**7, 1]),
    conv(kernel_size=[2**40, 1]), conv(in_channels=2**40), conv(stride=0), conv(padding=-1), conv(stride=[1, 2, 3]),
    conv(stride=1.5), conv(stride=True), conv(kernel_size="3"), conv(extra=1),
    {"class": "MaxPool2D", "config": {"kernel_size": [2**31, 2**31], "stride": None, "padding": [0, 0]}},
    {"class": "AvgPool2D", "config": {"kernel_size": [2**20, 2**20]}},
    {"class": "AvgPool2D", "config": {"kernel_size": 2, "padding": 2**62}},
    dense(0, 3), dense(3, 2**40), dense(2**24, 2**24), conv(in_channels=2**24, out_channels=2**24, kernel_size=1), dense(3.0, 2), dense(True, 2), dense(2, 2, activation="softplus"),
    dense(2, 2, activation=7), dense(2, 2, init="no_such_init"), dense(2, 2, init=["x"]), dense(2, 2, bias="yes"),
    {"class": "Sigmoid", "config": {"clip": 0.7}}, {"class": "Sigmoid", "config": {"clip": "x"}},
    {"class": "ReLU", "config": {"inplace": True}}, {"class": "Lambda", "config": {}}, {"class": 3, "config": {}},
    {"class": "Dense"}, [1, 2], "Dense",
])
def test_npz_invalid_layer_configs_are_refused_before_building(tmp_path, layer):
    p = write_npz(tmp_path / "g.npz", {"__pydl_architecture__": arch_record([layer])})
    refused(pydl.load, p)


def test_npz_conv_stride_file_never_loads_into_a_crashing_network(tmp_path):
    members = small_net_members()
    arch = json.loads(str(members["__pydl_architecture__"]))
    arch["layers"][0]["config"]["stride"] = [2**62, 2**62]
    members["__pydl_architecture__"] = np.array(json.dumps(arch))
    p = write_npz(tmp_path / "stride.npz", members)
    assert p.stat().st_size < 8000
    refused(pydl.load, p, "stride")


@pytest.mark.parametrize("edit", [
    {"format": "other"}, {"version": 2}, {"dtype": "float16"}, {"dtype": ["float32"]}, {"input_shape": [0]},
    {"input_shape": [2**40]}, {"input_shape": [3, 3]}, {"input_shape": "2"}, {"input_shape": [2] * 9},
    {"l2": -1}, {"l2": "0"}, {"l2": 1e400}, {"backend": "tpu"}, {"seed": -1}, {"seed": 1.5},
    {"loss": {"name": "nope", "config": {}}}, {"loss": {"name": "bce", "config": {"eps": 2}}},
    {"loss": {"name": "bce", "config": {"eps": "x"}}}, {"loss": {"name": "mse", "config": {"eps": 0.1}}},
    {"loss": "mse"}, {"optimizer": {"class": "LBFGS", "config": {}}},
    {"optimizer": {"class": "SGD", "config": {"lr": -1}}}, {"optimizer": {"class": "SGD", "config": {"lr": "1"}}},
    {"optimizer": {"class": "Adam", "config": {"betas": [0.9]}}},
    {"optimizer": {"class": "Adam", "config": {"betas": [2, 0.9]}}},
    {"optimizer": {"class": "SGD", "config": {"nesterov": 1}}},
    {"optimizer": {"class": "SGD", "config": {"params": []}}}, {"layers": []}, {"layers": {}},
])
def test_npz_invalid_architecture_fields_are_refused(tmp_path, edit):
    p = write_npz(tmp_path / "a.npz", {"__pydl_architecture__": arch_record([dense(2, 1)], **edit),
                                       "layer0.W": np.ones((2, 1), np.float32), "layer0.b": np.zeros(1, np.float32)})
    refused(pydl.load, p)


@pytest.mark.parametrize("record", [
    "[" * 100_000 + "]" * 100_000, '{"format": NaN}', "not json", "null", "[]", '"x"', "",
    '{"format": "pydl.network", "version": 1, "dtype": "float32", "layers": [' + ",".join(['{"class": "ReLU", '
                                                                                             '"config": {}}'] * 2000) + "]}",
])
def test_npz_broken_architecture_json_is_refused(tmp_path, record):
    p = write_npz(tmp_path / "j.npz", {"__pydl_architecture__": np.array(record)})
    refused(pydl.load, p)


@pytest.mark.parametrize("record", [np.array(3), np.zeros(5), np.array(["a", "b"]), np.array(b"{}")])
def test_npz_architecture_member_of_the_wrong_kind_is_refused(tmp_path, record):
    p = write_npz(tmp_path / "k.npz", {"__pydl_architecture__": record})
    refused(pydl.load, p, "architecture record")


def test_npz_zip_structure_attacks(tmp_path):
    good = small_net_members()
    p = write_npz(tmp_path / "z.npz", good)
    raw = p.read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 30):
        p.write_bytes(raw[:cut])
        refused(pydl.load, p)
    p.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty archive
    refused(pydl.load, p, "no __pydl_architecture__ record")
    many = {f"x{i}": np.zeros(1) for i in range(9000)}
    write_npz(p, {**good, **many})
    refused(pydl.load, p, "archive members")
    d = tmp_path / "dir.npz"
    d.mkdir()
    refused(pydl.load, d, "not a regular file")
    with pytest.raises(FileNotFoundError):
        pydl.load(tmp_path / "absent.npz")


def test_npz_member_lying_about_its_size(tmp_path):
    members = small_net_members()
    p = write_npz(tmp_path / "lie.npz", members)
    raw = bytearray(p.read_bytes())
    # Patch the central directory's uncompressed size of layer0.W.npy to a huge value.
    name = b"layer0.W.npy"
    cd = raw.rfind(b"PK\x01\x02", 0, raw.rfind(name))
    raw[cd + 24:cd + 28] = struct.pack("<I", 0x7FFFFFFF)
    p.write_bytes(bytes(raw))
    refused(pydl.load, p, peak=5 * MB)


def test_npz_fortran_ordered_and_float64_parameters_load(tmp_path):
    w = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    p = write_npz(tmp_path / "f.npz", {"__pydl_architecture__": arch_record([dense(2, 3, bias=False)]),
                                       "layer0.W": w})
    net = pydl.load(p)
    np.testing.assert_array_equal(net.layers[0].params["W"], w)
    assert net.layers[0].params["W"].dtype == np.float32
    np.testing.assert_allclose(net.predict_proba(np.ones((1, 2), np.float32)), [[3, 5, 7]])


def test_from_arrays_checks_like_load():
    from pydl.serialization import from_arrays
    arrays = {"__pydl_architecture__": arch_record([dense(2, 1, bias=False)]), "layer0.W": np.ones((2, 1), complex)}
    with pytest.raises(ValueError, match="float32 or float64"):
        from_arrays(arrays)
    with pytest.raises(ValueError, match="missing parameter"):
        from_arrays({"__pydl_architecture__": arch_record([dense(20000, 20000)])})
