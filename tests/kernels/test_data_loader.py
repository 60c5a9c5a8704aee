"""pydl.data: the compiled DataLoader and its gather kernel equal their NumPy twins bit for bit, and the
transforms mean what torchvision's do (checked against a per-sample NumPy definition)."""
import numpy as np
import pytest

from pydl import data
from pydl.data import DataLoader, Normalize, RandomCrop, RandomHorizontalFlip, gather_transform
from pydl.reference import data as R

DTYPES = [np.float32, np.float64]
SOURCES = [np.uint8, np.float32, np.float64]


def images(n=11, c=3, h=6, w=5, source=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, c, h, w))
    return x.astype(source) if source == np.uint8 else (x / 255).astype(source)


def per_sample(x, rows, shifts_y, shifts_x, flips, padding, size, mean=None, std=None):
    """The transforms as defined: zero-pad, take the window at the drawn offset, mirror, normalize."""
    out = []
    for r, dy, dx, f in zip(rows, shifts_y, shifts_x, flips):
        img = np.pad(x[r].astype(np.float64), ((0, 0), (padding, padding), (padding, padding)))
        y0, x0 = dy + padding, dx + padding
        win = img[:, y0:y0 + size[0], x0:x0 + size[1]]
        if f:
            win = win[:, :, ::-1]
        if mean is not None:
            win = (win - mean[:, None, None]) / std[:, None, None]
        out.append(win)
    return np.array(out)


def both(x, y, **kw):
    return [list((a.copy(), b.copy()) for a, b in cls(x, y, **kw)) for cls in (DataLoader, R.DataLoader)]


TRANSFORMS = {
    "none": None,
    "crop": RandomCrop((6, 5), padding=2),
    "flip": RandomHorizontalFlip(),
    "normalize per channel": Normalize([100.0, 120.0, 90.0], [60.0, 50.0, 70.0]),
    "normalize per feature": Normalize(np.linspace(50, 150, 90).reshape(3, 6, 5), np.linspace(20, 80, 90)),
    "crop+flip+normalize": [RandomCrop((6, 5), padding=3), RandomHorizontalFlip(0.7), Normalize(127.5, 64.0)],
    "zero mean: padding stays +0.0": [RandomCrop((6, 5), padding=2), Normalize(0.0, 2.0)],
    "smaller window": [RandomCrop(3, padding=1), RandomHorizontalFlip()],
    "image smaller than the padding": [RandomCrop((6, 5), padding=8), RandomHorizontalFlip()],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("batch_size", [1, 4, 11, 50])
def test_every_transform_equals_its_numpy_twin_exactly(name, source, dtype, batch_size):
    x = images(source=source)
    compiled, twin = both(x, np.arange(len(x)), batch_size=batch_size, seed=3, transform=TRANSFORMS[name],
                          dtype=dtype)
    assert len(compiled) == len(twin) == -(-len(x) // min(batch_size, len(x)))
    for (a, ya), (b, yb) in zip(compiled, twin):
        assert a.dtype == dtype and a.tobytes() == b.tobytes()
        np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("normalize", ["cast", "per channel", "per feature"])
@pytest.mark.parametrize("geometry", [((21, 45), (19, 37), 6), ((5, 20), (4, 16), 40)],
                         ids=["window 37 of 45", "image narrower than the padding"])
def test_wide_rows_equal_the_twin_at_every_simd_level(simd_level, source, dtype, normalize, geometry):
    # Windows wider than a vector register: each instruction set's vector loops and their remainders, on
    # forward and mirrored runs cut by the padding at either side or lying wholly in it.
    (h, w), size, padding = geometry
    x = images(n=9, c=2, h=h, w=w, source=source)
    transform = [RandomCrop(size, padding=padding), RandomHorizontalFlip()]
    if normalize == "per channel":
        transform.append(Normalize([100.0, 120.0], [60.0, 50.0]))
    if normalize == "per feature":
        features = 2 * size[0] * size[1]
        transform.append(Normalize(np.linspace(50, 150, features), np.linspace(20, 80, features)))
    compiled, twin = both(x, np.arange(9), batch_size=4, seed=8, transform=transform, dtype=dtype)
    for (a, _), (b, _) in zip(compiled, twin):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("fn", [gather_transform, R.gather_transform], ids=["compiled", "twin"])
@pytest.mark.parametrize("width", [5, 37])
def test_one_mean_and_scale_per_channel_equal_them_repeated_per_feature(fn, width, simd_level):
    x = images(n=6, c=3, h=4, w=width)
    index, flip, shift = np.array([5, 0, 3]), np.array([1, 0, 1], np.uint8), np.array([-2, 0, 3])
    mean, scale = np.array([100.0, 120.0, 90.0], np.float32), np.array([0.5, 0.25, 2.0], np.float32)
    repeated = np.repeat(mean, 4 * width), np.repeat(scale, 4 * width)
    per_channel, per_feature = (fn(x, index, np.empty((3, 3, 4, width), np.float32), shift, -shift, flip, m, s)
                                for m, s in ((mean, scale), repeated))
    assert per_channel.tobytes() == per_feature.tobytes()


@pytest.mark.parametrize("normalize", ["cast", "per channel", "per feature"])
@pytest.mark.parametrize("out_width", [15, 16, 17, 37])
@pytest.mark.parametrize("width", [11, 45])
def test_every_column_shift_equals_the_twin_at_every_simd_level(width, out_width, normalize, simd_level):
    # Windows cut by the image's left or right edge, wholly outside it, or at the largest shift allowed,
    # each forward and mirrored, on rows inside and outside the image.
    shifts = [-out_width - 3, -out_width, -3, 0, 2, width - out_width + 3, width, 2**31 - 1, -(2**31 - 1)]
    b = 2 * len(shifts)
    x = images(n=3, c=2, h=5, w=width)
    index = np.arange(b) % 3
    shift_x = np.array(shifts * 2, np.int64)
    shift_y = np.array([-2, 0, 3, -6, 5, 2**31 - 1, -(2**31 - 1), 1, -1] * 2, np.int64)
    flip = np.repeat(np.array([0, 1], np.uint8), len(shifts))
    features = 2 * 4 * out_width
    mean = scale = None
    if normalize == "per channel":
        mean, scale = np.array([100.0, 20.0], np.float32), np.array([0.5, 0.125], np.float32)
    if normalize == "per feature":
        mean, scale = np.linspace(50, 150, features, dtype=np.float32), np.linspace(0.5, 2, features, dtype=np.float32)
    compiled, twin = (fn(x, index, np.empty((b, 2, 4, out_width), np.float32), shift_y, shift_x, flip, mean, scale)
                      for fn in (gather_transform, R.gather_transform))
    assert compiled.tobytes() == twin.tobytes()


def test_tiny_images_far_smaller_than_the_padding_equal_the_twin():
    x = images(n=7, c=2, h=2, w=1)
    kw = dict(batch_size=3, seed=5, transform=[RandomCrop((2, 1), padding=(4, 6)), RandomHorizontalFlip()])
    for (a, _), (b, _) in zip(*both(x, None if False else np.zeros(7), **kw)):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_transforms_mean_pad_window_mirror_normalize(dtype):
    x = images(n=9, h=5, w=4)
    mean, std = np.array([10.0, 20.0, 30.0]), np.array([2.0, 4.0, 8.0])  # powers of two: exact reciprocals
    padding, size = 3, (4, 3)
    loader = DataLoader(x, np.arange(9), batch_size=4, seed=11, dtype=dtype,
                        transform=[RandomCrop(size, padding), RandomHorizontalFlip(), Normalize(mean, std)])
    rng = np.random.default_rng([loader.seed, 0])  # the documented protocol: order, then the epoch's crops, flips
    order = rng.permutation(9)
    dy = rng.integers(0, 5 + 2 * padding - size[0] + 1, 9) - padding
    dx = rng.integers(0, 4 + 2 * padding - size[1] + 1, 9) - padding
    flips = rng.random(9) < 0.5
    for s, (xb, yb) in zip(range(0, 9, 4), loader):
        b = len(yb)
        np.testing.assert_array_equal(yb, order[s:s + b])
        expected = per_sample(x, yb, dy[s:s + b], dx[s:s + b], flips[s:s + b], padding, size, mean, std)
        np.testing.assert_allclose(xb, expected, rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_same_seed_and_epoch_give_the_same_batches_and_epochs_differ():
    x = images(n=20)
    kw = dict(batch_size=6, seed=7, transform=[RandomCrop((6, 5), 2), RandomHorizontalFlip()])
    a, b = DataLoader(x, np.arange(20), **kw), DataLoader(x, np.arange(20), **kw)
    first = [(xb.copy(), yb.copy()) for xb, yb in a]
    assert a.epoch == 1
    again = [(xb.copy(), yb.copy()) for xb, yb in b]
    second = [(xb.copy(), yb.copy()) for xb, yb in a]
    for (x1, y1), (x2, y2) in zip(first, again):
        assert x1.tobytes() == x2.tobytes() and np.array_equal(y1, y2)
    assert any(not np.array_equal(y1, y2) for (_, y1), (_, y2) in zip(first, second))
    a.epoch = 0  # replay epoch 0
    assert all(x1.tobytes() == x2.tobytes() for (x1, _), (x2, _) in zip(first, a))


def test_seed_none_follows_manual_seed():
    import pydl
    x = images(n=8)
    pydl.manual_seed(4)
    a = DataLoader(x, batch_size=8)
    pydl.manual_seed(4)
    assert DataLoader(x, batch_size=8).seed == a.seed


@pytest.mark.parametrize("drop_last", [False, True])
def test_each_sample_comes_once_per_epoch(drop_last):
    x = images(n=23)
    loader = DataLoader(x, np.arange(23), batch_size=5, seed=0, drop_last=drop_last)
    seen = np.concatenate([yb.copy() for _, yb in loader])
    assert len(loader) == (4 if drop_last else 5)
    assert len(seen) == (20 if drop_last else 23) and len(set(seen.tolist())) == len(seen)
    unshuffled = np.concatenate([yb.copy() for _, yb in DataLoader(x, np.arange(23), batch_size=5, shuffle=False)])
    np.testing.assert_array_equal(unshuffled, np.arange(23))


def test_without_transforms_batches_are_the_rows_cast():
    x = images(n=10, source=np.uint8)
    for xb, yb in DataLoader(x, np.arange(10), batch_size=3, seed=1, dtype=np.float64):
        np.testing.assert_array_equal(xb, x[yb].astype(np.float64))


def test_batch_buffers_are_reused_within_an_epoch():
    batches = list(DataLoader(images(n=9), np.arange(9), batch_size=3, seed=0))
    assert len({xb.__array_interface__["data"][0] for xb, _ in batches}) == 1
    assert batches[0][0].ctypes.data % 64 == 0  # whole cache lines: no 64-byte store is split across two


def test_flat_rows_with_image_shape_and_without_y():
    x = images(n=6).reshape(6, -1)
    loader = DataLoader(x, batch_size=4, seed=2, image_shape=(3, 6, 5),
                        transform=[RandomCrop((6, 5), 1), RandomHorizontalFlip()])
    twin = R.DataLoader(x, batch_size=4, seed=2, image_shape=(3, 6, 5),
                        transform=[RandomCrop((6, 5), 1), RandomHorizontalFlip()])
    for a, b in zip(loader, twin):
        assert a.shape[1:] == (90,) and a.tobytes() == b.tobytes()
    assert DataLoader(x, transform=Normalize(0, 255), batch_size=6).sample_shape == (90,)


def test_the_result_does_not_depend_on_the_thread_count():
    x = images(n=64, h=32, w=32)
    index = np.random.default_rng(0).permutation(64)
    shifts = np.random.default_rng(1).integers(-4, 5, (2, 64))
    flip = np.arange(64) % 2 == 0
    one, two = (gather_transform(x, index, np.empty((64, 3, 32, 32), np.float32), shifts[0], shifts[1], flip,
                                 threads=t) for t in (1, 2))
    assert one.tobytes() == two.tobytes()


BAD = [
    (dict(x=np.zeros((2, 1, 3, 3), np.int16)), TypeError, "x must be uint8"),
    (dict(x=np.zeros((2, 3, 3), np.uint8)), ValueError, "x must have 4 dimension"),
    (dict(out=np.zeros((2, 1, 3, 3), np.int32)), TypeError, "out must be float32"),
    (dict(out=np.zeros((2, 2, 3, 3), np.float32)), ValueError, "channels"),
    (dict(index=np.array([0, 5])), ValueError, "index must lie in"),
    (dict(index=np.array([0, 1], np.int32)), TypeError, "index must be int64"),
    (dict(shift_y=np.zeros(3, np.int64)), ValueError, "shift_y must have shape (2,)"),
    (dict(flip=np.zeros(2, np.float32)), TypeError, "flip must be bool"),
    (dict(mean=np.zeros(9, np.float32)), ValueError, "mean and scale must be given together"),
    (dict(mean=np.zeros(9, np.float64), scale=np.ones(9, np.float64)), TypeError, "mean must be float32"),
    (dict(mean=np.zeros(8, np.float32), scale=np.ones(8, np.float32)), ValueError,
     "mean must have shape (1,) (one value per channel) or (9,)"),
    (dict(mean=np.zeros(1, np.float32), scale=np.ones(9, np.float32)), ValueError,
     "mean and scale must have the same shape"),
    (dict(threads=0), ValueError, "threads must be in"),
]


@pytest.mark.parametrize("fn", [gather_transform, R.gather_transform], ids=["compiled", "twin"])
@pytest.mark.parametrize("change,error,words", BAD)
def test_bad_arguments_raise_naming_them_before_any_write(fn, change, error, words):
    args = dict(x=np.ones((4, 1, 3, 3), np.uint8), index=np.array([0, 1]), out=np.full((2, 1, 3, 3), 7, np.float32))
    args.update(change)
    out = args["out"]
    before = out.copy()
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        fn(**args)
    np.testing.assert_array_equal(out, before)


@pytest.mark.parametrize("kwargs,error,words", [
    (dict(x=np.zeros((4, 3), np.int32)), TypeError, "x must be uint8, float32 or float64"),
    (dict(x=np.full((4, 3), np.nan)), ValueError, "NaN"),
    (dict(y=np.arange(3)), ValueError, "y has 3 rows but x has 4"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(dtype=np.int64), TypeError, "dtype must be float32 or float64"),
    (dict(transform=RandomHorizontalFlip()), ValueError, "need images"),
    (dict(transform=[RandomHorizontalFlip(), RandomCrop(1)]), ValueError, "in that order"),
    (dict(transform=lambda b: b), TypeError, "transform must be"),
    (dict(transform=Normalize([1.0, 2.0], [1.0, 1.0])), ValueError, "Normalize: mean has shape"),
    (dict(x=np.zeros((4, 1, 2, 2), np.uint8), transform=RandomCrop(5, padding=1)), ValueError, "larger than"),
    (dict(seed=-1), ValueError, "seed"),
])
def test_loader_arguments_are_checked(kwargs, error, words):
    kw = dict(x=np.zeros((4, 3), np.uint8), y=np.arange(4))
    kw.update(kwargs)
    with pytest.raises(error, match=words):
        DataLoader(kw.pop("x"), kw.pop("y"), **kw)


def test_feature_stats_match_numpy_without_a_float_copy():
    x = images(n=50)
    mean, std = data.feature_stats(x, chunk=7)
    np.testing.assert_allclose(mean, x.mean(axis=0, dtype=np.float64), rtol=1e-13)
    np.testing.assert_allclose(std, x.std(axis=0, dtype=np.float64), rtol=1e-12)
    mean_c, std_c = data.feature_stats(x, per="channel", chunk=7)
    np.testing.assert_allclose(mean_c, x.mean(axis=(0, 2, 3), dtype=np.float64), rtol=1e-13)
    np.testing.assert_allclose(std_c, x.astype(np.float64).std(axis=(0, 2, 3)), rtol=1e-12)
