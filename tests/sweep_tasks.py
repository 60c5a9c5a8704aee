"""Task functions for tests/test_experiments.py, in a module of their own so that worker processes (a
local pool, a Dask cluster) can import them."""
import os

import numpy as np

import pydl
from pydl import nn, optim
from pydl.datasets import make_parabola


def train_parabola(config, seed):
    """Report 000's model 3 on the parabola, a few epochs: a real training run per task."""
    x, y = make_parabola(200, seed=seed)
    net = pydl.Network([nn.Dense(2, 3), nn.Sigmoid(), nn.Dense(3, 1), nn.Sigmoid()], loss="bce",
                       optimizer=optim.SGD(lr=config["lr"]), seed=seed)
    net.fit(x, y, epochs=config.get("epochs", 20), batch_size=config.get("batch_size", "full"), verbose=0, seed=seed)
    return net.evaluate(x, y)


def fail_on_large_lr(config, seed):
    if config["lr"] > 1:
        raise ArithmeticError(f"lr {config['lr']} is too large")
    return train_parabola(config, seed)


def die_once(config, seed):
    """Kills its worker process the first time a task with lr 0.5 runs (the file config["marker"]
    remembers), as a machine lost mid-run would; the retry then trains normally."""
    if config["lr"] == 0.5 and not os.path.exists(config["marker"]):
        open(config["marker"], "w").close()
        os._exit(1)
    return train_parabola(config, seed)


def not_a_dict(config, seed):
    return np.float64(1.0)


def sleepy(config, seed):
    import time
    time.sleep(config["seconds"])
    return {"slept": config["seconds"]}
