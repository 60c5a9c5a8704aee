"""``fit``/``evaluate`` with a :class:`pydl.data.DataLoader` (or ``fit(augment=...)``): the checks and the
preparation of targets before :func:`pydl.training.fit` trains the loader's batches."""
import numpy as np

from . import random as _random
from . import training as _training
from .callbacks import callback_list


def _prepared(net, loader, fn):
    """(targets t, labels) of every row of ``loader``, and sets the network's input shape."""
    if loader.y is None:
        raise ValueError(f"{fn}: the DataLoader has no y; build it as DataLoader(x, y, ...)")
    out_shape = net._output_shape(loader.sample_shape, fn)
    net._last_input_shape = tuple(loader.sample_shape)
    return net._target(loader.y, loader.n, out_shape, fn)


def evaluate_loader(net, loader, y, fn):
    if y is not None:
        raise ValueError(f"{fn}: y must be None when x is a DataLoader (it holds the targets)")
    t, labels = _prepared(net, loader, fn)
    return _training.evaluate_loader(net, loader, t, labels)


def _validation_loader(net, data, transforms, fn):
    from .data import DataLoader
    if isinstance(data, DataLoader):
        return data
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{fn}: validation_data must be a pair (x_val, y_val) or a DataLoader")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    return DataLoader(x, y, batch_size=max(1, min(len(x), _training.eval_batch_size(net, len(x)))), shuffle=False,
                      seed=0, transform=transforms)


def fit_loader(net, x, y, epochs, batch_size, shuffle, validation_data, validation_split, verbose, callbacks, seed,
               augment):
    from .data import DataLoader
    # fit's generator: the seed of a loader built here, and the step seeds of random layers (Dropout).
    rng = net._rng if seed is None else _random.spawn(_random.check_seed("fit", seed))
    if isinstance(x, DataLoader):
        if y is not None:
            raise ValueError("fit: y must be None when x is a DataLoader (it yields the targets)")
        if augment is not None:
            raise ValueError("fit: augment= builds a DataLoader from arrays; give a DataLoader its transform instead")
        if validation_split:
            raise ValueError("fit: validation_split needs arrays; pass validation_data=DataLoader(...) instead")
        loader = x
    else:
        if y is None:
            raise ValueError("fit: y is missing")
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
            raise ValueError(f"fit: y has {y.shape[0] if y.ndim else 0} samples but x has "
                             f"{x.shape[0] if x.ndim else 0}")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must lie in [0, 1), got {validation_split}")
        if validation_split:
            cut = x.shape[0] - int(x.shape[0] * validation_split)
            if cut == x.shape[0] or cut < 1:
                raise ValueError(f"fit: validation_split={validation_split} of {x.shape[0]} samples leaves an "
                                 f"empty training or validation set")
            validation_data, x, y = (x[cut:], y[cut:]), x[:cut], y[:cut]
        bs = _training.batch_size_for(batch_size, x.shape[0], "fit")
        loader = DataLoader(x, y, batch_size=bs, shuffle=shuffle, seed=int(rng.integers(2 ** 63)), transform=augment)
    t, labels = _prepared(net, loader, "fit")
    val = None
    if validation_data is not None:
        fixed = [tr for tr in loader.transform if not tr.random]
        val_loader = _validation_loader(net, validation_data, fixed, "fit: validation_data")
        val = (val_loader,) + tuple(_prepared(net, val_loader, "fit: validation_data"))
        net._last_input_shape = tuple(loader.sample_shape)
    callbacks = callback_list(callbacks, net, "fit")
    return _training.fit(net, None, t, labels, epochs, batch_size, True, val, verbose, callbacks, rng, loader)
