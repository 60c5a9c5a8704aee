"""pydl.datasets on small generated files; no network, no real datasets needed."""
import gc
import gzip
import hashlib
import io
import os
import pickle
import pickletools
import tarfile
import urllib.error
import warnings

import numpy as np
import pytest

import pydl.datasets as ds
from pydl.datasets import _download as download_module


@pytest.fixture(autouse=True)
def isolated_data_roots(tmp_path, monkeypatch):
    # Default search paths must never reach a real ~/.pydl/data or $PYDL_DATA during tests.
    monkeypatch.setenv("PYDL_DATA", str(tmp_path / "data_root"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# --- make_parabola -------------------------------------------------------------------------------

def test_parabola_rule_shapes_and_seed():
    x, y = ds.make_parabola(1000, seed=3)
    assert x.shape == (1000, 2) and y.shape == (1000, 1)
    assert x.dtype == y.dtype == np.float32
    assert x.min() >= -2 and x.max() < 2
    np.testing.assert_array_equal(y[:, 0], (x[:, 0] ** 2 > x[:, 1]).astype(np.float32))
    assert 0.7 < y.mean() < 0.83  # the positive share is ~0.764 for U(-2,2)^2
    x2, y2 = ds.make_parabola(1000, seed=3)
    np.testing.assert_array_equal(x, x2)
    assert not np.array_equal(x, ds.make_parabola(1000, seed=4)[0])


def test_parabola_range_and_dtype():
    x, _ = ds.make_parabola(50, low=0, high=1, seed=0, dtype="float64")
    assert x.dtype == np.float64 and x.min() >= 0 and x.max() < 1
    with pytest.raises(ValueError):
        ds.make_parabola(0)
    with pytest.raises(ValueError):
        ds.make_parabola(10, low=1, high=1)


# --- IDX / MNIST ---------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [True, False])
def test_idx_roundtrip(tmp_path, compress):
    for a in (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.array([1.5, -2.0], dtype=np.float32),
              np.array([[1, -7]], dtype=np.int32)):
        p = tmp_path / ("a.idx.gz" if compress else "a.idx")
        ds.write_idx(p, a, compress)
        assert (p.read_bytes()[:2] == b"\x1f\x8b") == compress
        b = ds.read_idx(p)
        assert b.dtype == a.dtype and b.dtype.isnative
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("loader", [ds.load_mnist, ds.load_fashion_mnist])
def test_mnist_loader(tmp_path, compress, loader):
    ds.write_fake_mnist(tmp_path, n_train=30, n_test=10, compress=compress)
    x, y = loader(tmp_path)
    assert x.shape == (30, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (30,) and y.dtype == np.int64 and set(y) == set(range(10))
    x, y = loader(tmp_path, "test", flatten=True, normalize=False)
    assert x.shape == (10, 784) and x.dtype == np.uint8
    raw = ds.read_idx(next(tmp_path.glob("t10k-images*")))
    np.testing.assert_array_equal(x, raw.reshape(10, -1))
    with pytest.raises(ValueError, match="split"):
        loader(tmp_path, "validation")


def test_mnist_accepts_windows_style_names(tmp_path):
    ds.write_fake_mnist(tmp_path, n_train=10, n_test=10, compress=False)
    for f in tmp_path.iterdir():
        f.rename(tmp_path / f.name.replace("-idx", ".idx"))
    assert ds.load_mnist(tmp_path)[0].shape == (10, 28, 28)


def test_mnist_default_search_paths(tmp_path, monkeypatch):
    ds.write_fake_mnist(tmp_path / "data_root" / "mnist", n_train=10, n_test=10)
    assert ds.load_mnist(split="test")[0].shape == (10, 28, 28)
    monkeypatch.delenv("PYDL_DATA")
    ds.write_fake_mnist(tmp_path / "home" / ".pydl" / "data" / "fashion-mnist", n_train=20, n_test=10)
    assert ds.load_fashion_mnist()[0].shape == (20, 28, 28)


def test_fashion_mnist_searches_debian_dir(tmp_path, monkeypatch):
    debian = ds.write_fake_mnist(tmp_path / "debian", n_train=10, n_test=10)
    monkeypatch.setattr("pydl.datasets.mnist.DEBIAN_FASHION_DIR", debian)
    assert ds.load_fashion_mnist(split="test")[0].shape == (10, 28, 28)
    with pytest.raises(ds.DatasetNotFoundError):
        ds.load_mnist()  # plain MNIST never looks in the Fashion-MNIST folder


def test_missing_dataset_message_names_folder(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        ds.load_mnist(tmp_path / "nowhere")
    msg = str(info.value)
    assert str(tmp_path / "nowhere") in msg and "train-images-idx3-ubyte" in msg and "download" in msg


def test_idx_truncated_file(tmp_path):
    ds.write_fake_mnist(tmp_path, n_train=10, n_test=10, compress=False)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*truncated"):
        ds.load_mnist(tmp_path)
    p.write_bytes(p.read_bytes()[:10])  # inside the header
    with pytest.raises(ValueError, match="truncated IDX header"):
        ds.read_idx(p)


def test_idx_truncated_gzip(tmp_path):
    ds.write_fake_mnist(tmp_path, n_train=10, n_test=10)
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-12])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz.*(gzip|truncated)"):
        ds.load_mnist(tmp_path)


def test_idx_wrong_magic(tmp_path):
    ds.write_fake_mnist(tmp_path, n_train=10, n_test=10)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(100)))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: not an IDX file"):
        ds.load_mnist(tmp_path)


def test_mnist_rejects_swapped_or_mismatched_files(tmp_path):
    ds.write_fake_mnist(tmp_path, n_train=10, n_test=12, compress=False)
    img, lab = tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte"
    img.write_bytes(lab.read_bytes())
    with pytest.raises(ValueError, match="1 dimensions, expected 3"):
        ds.load_mnist(tmp_path)
    ds.write_fake_mnist(tmp_path, n_train=10, n_test=12, compress=False)
    lab.write_bytes((tmp_path / "t10k-labels-idx1-ubyte").read_bytes())
    with pytest.raises(ValueError, match="10 images but .* 12 labels"):
        ds.load_mnist(tmp_path)
    ds.write_idx(lab, np.full(10, 12, dtype=np.uint8), compress=False)
    with pytest.raises(ValueError, match="labels must be 0..9"):
        ds.load_mnist(tmp_path)


# --- CIFAR-10 ------------------------------------------------------------------------------------

def test_cifar_loader(tmp_path):
    ds.write_fake_cifar10(tmp_path, n_per_batch=20)
    x, y = ds.load_cifar10(tmp_path)
    assert x.shape == (100, 3072) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (100,) and y.dtype == np.int64
    x, y = ds.load_cifar10(tmp_path, [2, 1], normalize=False, flatten=False)
    assert x.shape == (40, 3, 32, 32) and x.dtype == np.uint8
    first, _ = ds.load_cifar10_batch(tmp_path / "data_batch_1")
    np.testing.assert_array_equal(x[20:].reshape(20, -1), first)
    assert ds.load_cifar10(tmp_path, "test")[0].shape == (20, 3072)
    for bad in (0, 6, [], "validation"):
        with pytest.raises(ValueError):
            ds.load_cifar10(tmp_path, bad)


def test_cifar_default_search_finds_tarball_folder(tmp_path):
    ds.write_fake_cifar10(tmp_path / "data_root" / "cifar-10-batches-py", n_per_batch=5)
    assert ds.load_cifar10(split=3)[0].shape == (5, 3072)


def test_cifar_splits_and_preprocessing(tmp_path):
    ds.write_fake_cifar10(tmp_path, n_per_batch=30)
    s = ds.cifar10_splits(tmp_path)
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (30, 30, 30)
    np.testing.assert_allclose(s.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(s.x_train.std(axis=0), 1, atol=1e-4)
    raw_val = ds.load_cifar10(tmp_path, 2)[0]
    np.testing.assert_allclose(s.x_val, (raw_val - s.mean) / s.std, rtol=1e-5, atol=1e-5)
    s = ds.cifar10_splits(tmp_path, "all", n_val=10, standardized=False)
    assert (len(s.x_train), len(s.x_val)) == (140, 10) and s.mean is None
    np.testing.assert_array_equal(s.x_val, ds.load_cifar10(tmp_path, 5)[0][-10:])
    with pytest.raises(ValueError):
        ds.cifar10_splits(tmp_path, "all", n_val=150)
    with pytest.raises(ValueError):
        ds.cifar10_splits(tmp_path, "some")


def test_cifar_fake_batches_are_written_as_python2_wrote_the_official_ones(tmp_path):
    ds.write_fake_cifar10(tmp_path, n_per_batch=7, n_test=3)
    raw = (tmp_path / "data_batch_1").read_bytes()
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(raw)]
    names = {name for name, _ in ops}
    assert ops[0] == ("PROTO", 2) and "SHORT_BINSTRING" in names and "BINSTRING" in names  # the pixels
    assert not names & {"BINUNICODE", "SHORT_BINBYTES", "BINBYTES", "NEWTRUE", "FRAME", "MEMOIZE"}
    assert {arg for name, arg in ops if name == "GLOBAL"} == {
        "numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}  # no _codecs.encode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy 2 warns about numpy.core
        batch = pickle.loads(raw, encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (7, 3072)
    assert type(batch[b"labels"]) is list and all(type(v) is int for v in batch[b"labels"])
    x, y = ds.load_cifar10_batch(tmp_path / "data_batch_1")
    np.testing.assert_array_equal(x, batch[b"data"])
    np.testing.assert_array_equal(y, batch[b"labels"])
    assert ds.load_cifar10(tmp_path, "test")[0].shape == (3, 3072)


def test_cifar_schemes_read_each_file_once_and_share_it(tmp_path):
    ds.write_fake_cifar10(tmp_path, n_per_batch=30, n_test=12)
    for dtype in ("uint8", "float32"):
        both = ds.cifar10_schemes(tmp_path, ["basic", "all", "basic"], n_val=10, dtype=dtype)
        assert list(both) == ["basic", "all"]
        for scheme, splits in both.items():
            alone = ds.cifar10_splits(tmp_path, scheme, n_val=10, dtype=dtype)
            for a, b in zip(splits, alone):
                np.testing.assert_array_equal(a, b)
    both = ds.cifar10_schemes(tmp_path, ["basic", "all"], n_val=10, dtype="uint8")
    assert np.shares_memory(both["basic"].x_train, both["all"].x_train)
    assert np.shares_memory(both["basic"].x_test, both["all"].x_test)
    with pytest.raises(ValueError, match="scheme must be"):
        ds.cifar10_schemes(tmp_path, ["basic", "some"])


def test_cifar_batches_of_unequal_sizes_concatenate(tmp_path):
    ds.write_fake_cifar10(tmp_path / "a", n_per_batch=10)
    ds.write_fake_cifar10(tmp_path / "b", n_per_batch=25, seed=1)
    ds.write_fake_cifar10(tmp_path / "c", n_per_batch=4, seed=2)
    (tmp_path / "a" / "data_batch_2").write_bytes((tmp_path / "b" / "data_batch_2").read_bytes())
    (tmp_path / "a" / "data_batch_5").write_bytes((tmp_path / "c" / "data_batch_5").read_bytes())
    parts = [ds.load_cifar10_batch(tmp_path / "a" / f"data_batch_{i}") for i in range(1, 6)]
    for dtype in ("uint8", "float32"):
        x, y = ds.load_cifar10(tmp_path / "a", dtype=dtype)
        assert x.dtype == dtype and x.shape == (59, 3072) and x.flags.owndata
        expected = np.concatenate([p[0] for p in parts])
        np.testing.assert_array_equal(x, expected if dtype == "uint8" else expected.astype(dtype) / 255)
        np.testing.assert_array_equal(y, np.concatenate([p[1] for p in parts]))


def test_cifar_batch_is_freed_without_the_garbage_collector(tmp_path):
    """No reference cycle keeps an unpickler, its file's bytes or its memo alive after a load."""
    import pydl.datasets.cifar as cifar
    ds.write_fake_cifar10(tmp_path, n_per_batch=3)
    gc.collect()
    gc.disable()
    try:
        x, _ = ds.load_cifar10_batch(tmp_path / "data_batch_1")
        assert x.flags.writeable and x.flags.c_contiguous
        ds.cifar10_splits(tmp_path, "basic", dtype="uint8")
        with warnings.catch_warnings():  # isinstance on every live object touches deprecated module attributes
            warnings.simplefilter("ignore")
            alive = [o for o in gc.get_objects() if isinstance(o, (cifar._ArrayUnpickler, cifar._ArrayStub))]
        assert not alive
    finally:
        gc.enable()


def test_one_hot():
    np.testing.assert_array_equal(ds.one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError):
        ds.one_hot([10])


def test_cifar_missing_and_broken_files(tmp_path):
    with pytest.raises(ds.DatasetNotFoundError, match="data_batch_1"):
        ds.load_cifar10(tmp_path)
    ds.write_fake_cifar10(tmp_path, n_per_batch=5)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(ds.DatasetNotFoundError, match="data_batch_4"):
        ds.load_cifar10(tmp_path)
    p = tmp_path / "data_batch_1"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ValueError, match="data_batch_1: not a readable CIFAR-10 batch"):
        ds.load_cifar10(tmp_path, 1)
    p.write_bytes(b"definitely not a pickle")
    with pytest.raises(ValueError, match="data_batch_1"):
        ds.load_cifar10(tmp_path, 1)
    p.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"\(N, 3072\)"):
        ds.load_cifar10(tmp_path, 1)
    p.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}))
    with pytest.raises(ValueError, match="0..9"):
        ds.load_cifar10(tmp_path, 1)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_unpickler_refuses_code(tmp_path):
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": []}))
    with pytest.raises(ValueError, match="refusing to load global"):
        ds.load_cifar10_batch(p)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_unpickler_reads_numpy_pickles(tmp_path, protocol):
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    p = tmp_path / "b"
    p.write_bytes(pickle.dumps({b"data": data, b"labels": [3, 4]}, protocol=protocol))
    x, y = ds.load_cifar10_batch(p)
    np.testing.assert_array_equal(x, data)
    np.testing.assert_array_equal(y, [3, 4])


# --- download ------------------------------------------------------------------------------------

def test_download_offline_fails_fast_naming_folder(tmp_path, monkeypatch):
    calls = []

    def offline(url, timeout):
        calls.append((url, timeout))
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(download_module.urllib.request, "urlopen", offline)
    dest = tmp_path / "mnist_here"
    with pytest.raises(ds.DownloadError) as info:
        ds.download("mnist", dest, timeout=0.5)
    assert str(dest) in str(info.value) and "name resolution" in str(info.value)
    assert all(t == 0.5 for _, t in calls) and len(calls) == 2  # both MNIST mirrors, first file only
    assert list(dest.iterdir()) == []  # no partial files left behind


def test_download_unreachable_url(tmp_path, monkeypatch):
    # Port 9 on localhost: refused at once, no real network involved.
    monkeypatch.setitem(download_module.SOURCES, "mnist",
                        (["http://127.0.0.1:9/"], download_module.SOURCES["mnist"][1]))
    with pytest.raises(ds.DownloadError, match="mnist"):
        ds.download("mnist", tmp_path, timeout=1)


def test_download_verifies_checksum_and_skips_good_files(tmp_path, monkeypatch):
    payload = b"pretend archive"
    served = []

    def fake(url, timeout):
        served.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(download_module.urllib.request, "urlopen", fake)
    with pytest.raises(ds.DownloadError, match="MD5"):
        ds.download("fashion-mnist", tmp_path)
    assert list(tmp_path.iterdir()) == []
    md5 = hashlib.md5(payload).hexdigest()
    monkeypatch.setitem(download_module.SOURCES, "fashion-mnist",
                        (["http://example.invalid/"], {"a.gz": md5, "b.gz": md5}))
    served.clear()
    assert ds.download("fashion-mnist", tmp_path) == tmp_path
    assert (tmp_path / "a.gz").read_bytes() == payload and len(served) == 2
    served.clear()
    ds.download("fashion-mnist", tmp_path)
    assert served == []  # already there with the right checksum


def test_download_unpacks_cifar_tarball(tmp_path, monkeypatch):
    src = ds.write_fake_cifar10(tmp_path / "src" / "cifar-10-batches-py", n_per_batch=4)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    payload = archive.getvalue()
    monkeypatch.setitem(download_module.SOURCES, "cifar10", (["http://example.invalid/"], {
        "cifar-10-python.tar.gz": hashlib.md5(payload).hexdigest()}))
    monkeypatch.setattr(download_module.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload))
    dest = ds.download("cifar10")
    assert dest == tmp_path / "data_root" / "cifar-10"
    assert ds.load_cifar10(split="test")[0].shape == (4, 3072)


def test_download_unknown_name():
    with pytest.raises(ValueError, match="unknown dataset"):
        ds.download("imagenet")


def test_loaders_return_uint8_on_request(tmp_path):
    import pydl.datasets as ds
    cifar = ds.write_fake_cifar10(tmp_path / "c", n_per_batch=30)
    x, _ = ds.load_cifar10(cifar, 1, dtype="uint8")
    assert x.dtype == np.uint8 and x.shape == (30, 3072)
    splits = ds.cifar10_splits(cifar, "basic", dtype="uint8")
    assert splits.x_train.dtype == splits.x_test.dtype == np.uint8
    np.testing.assert_allclose(splits.mean, splits.x_train.mean(axis=0, dtype=np.float64), rtol=1e-13)
    mnist = ds.write_fake_mnist(tmp_path / "m", n_train=20, n_test=5)
    assert ds.load_mnist(mnist, dtype="uint8")[0].dtype == np.uint8
