"""fit and evaluate with a pydl.data.DataLoader (or fit(augment=...)): every loader batch is one optimizer
step, the same as stepping from Python on the same batches, through the plan and without it; divergence,
History and validation behave as in fit on arrays."""
import numpy as np
import pytest

import pydl
from pydl import nn, optim
from pydl.callbacks import Callback
from pydl.data import DataLoader, Normalize, RandomCrop, RandomHorizontalFlip
from pydl.training import DivergenceError


def data(n=37, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 2, 4, 4), dtype=np.uint8)
    y = (x[:, 0].mean(axis=(1, 2)) > x[:, 1].mean(axis=(1, 2))).astype(np.int64) + 2 * (x[:, 0, 0, 0] > 128)
    return x, y


def net(seed=1, dtype="float64", lr=0.05, opt=None):
    return pydl.Network([nn.Flatten(), nn.Dense(32, 8), nn.ReLU(), nn.Dense(8, 4)], loss="cross_entropy",
                        optimizer=opt or optim.SGD(lr=lr, momentum=0.9), dtype=dtype, seed=seed)


TRANSFORM = [RandomCrop(4, padding=1), RandomHorizontalFlip(), Normalize([120.0, 130.0], [70.0, 75.0])]


def loader(x, y, **kw):
    return DataLoader(x, y, batch_size=10, seed=5, transform=TRANSFORM, **kw)


class PerBatch(Callback):
    """A batch hook, so fit trains through the layers' Python forward/backward instead of the plan."""

    def on_batch_end(self, batch, loss):
        pass


@pytest.mark.parametrize("path", ["plan", "python"])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_each_loader_batch_is_one_step_as_from_python(path, opt):
    x, y = data()
    make = (lambda: optim.SGD(lr=0.05, momentum=0.9)) if opt == "sgd" else (lambda: optim.Adam(lr=0.01))
    a, b = net(opt=make()), net(opt=make())
    history = a.fit(loader(x, y), epochs=3, verbose=0, callbacks=[PerBatch()] if path == "python" else None)
    stepped = loader(x, y, dtype=np.float64)  # fit gathers in the network's dtype
    losses = []
    for _ in range(3):
        losses.append([b.train_step(xb, yb) * len(yb) for xb, yb in stepped])
    assert a.optimizer.steps == b.optimizer.steps == 12
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(history["loss"], [sum(e) / len(x) for e in losses], rtol=1e-12)
    assert len(history["accuracy"]) == 3


def test_fit_with_augment_is_reproducible():
    x, y = data()
    runs = [net().fit(x, y, epochs=2, batch_size=8, augment=TRANSFORM, seed=3, verbose=0, validation_split=0.2)
            for _ in range(2)]
    assert all(runs[0][k] == runs[1][k] for k in runs[0].history if k != "time")
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"} <= set(runs[0].history)


def test_validation_loader_matches_evaluate_on_normalized_arrays():
    x, y = data()
    model = net()
    norm = Normalize([120.0, 130.0], [70.0, 75.0])
    val = DataLoader(x, y, batch_size=7, shuffle=False, transform=norm)
    scores = model.evaluate(val)
    scale = np.array([1 / 70.0, 1 / 75.0])[None, :, None, None]
    arrays = model.evaluate((x - np.array([120.0, 130.0])[None, :, None, None]) * scale, y)
    assert scores["loss"] == pytest.approx(arrays["loss"], rel=1e-12)
    assert scores["accuracy"] == arrays["accuracy"]
    h = model.fit(loader(x, y), epochs=1, validation_data=val, verbose=0)
    assert h["val_loss"][0] == pytest.approx(model.evaluate(val)["loss"], rel=1e-12)


def test_divergence_raises_at_the_step_and_keeps_the_last_finite_weights():
    x, y = data()
    x = x.astype(np.float64) * 1e150  # huge inputs: the logits overflow at the first steps
    model = net(opt=optim.SGD(lr=1e6))
    with pytest.raises(DivergenceError) as info:
        model.fit(DataLoader(x, y, batch_size=10, seed=5, transform=TRANSFORM[:2]), epochs=2, verbose=0)
    assert info.value.epoch == 0 and info.value.batch is not None
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_a_failed_fit_puts_the_loader_epoch_back():
    x, y = data()
    data_loader = loader(x, y)
    model = net()

    def fail(epoch, logs):
        raise RuntimeError("stop")
    with pytest.raises(RuntimeError):
        model.fit(data_loader, epochs=3, verbose=0, callbacks=[fail])
    assert data_loader.epoch == 0


@pytest.mark.parametrize("kwargs,words", [
    (dict(y=np.zeros(37)), "y must be None when x is a DataLoader"),
    (dict(augment=[RandomHorizontalFlip()]), "give a DataLoader its transform"),
    (dict(validation_split=0.1), "validation_split needs arrays"),
])
def test_fit_with_a_loader_refuses_what_it_cannot_use(kwargs, words):
    x, y = data()
    with pytest.raises(ValueError, match=words):
        net().fit(loader(x, y), epochs=1, verbose=0, **kwargs)
