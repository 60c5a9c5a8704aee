"""Training on the CUDA simulator (and on a GPU, where there is one) equals training on the CPU: an MLP and
a CNN, two epochs, to 1e-10 in float64, through the GPU plan (whole epochs on the device, one
synchronisation each) and step by step through the layers' CUDA kernels."""
import numpy as np
import pytest

import pydl
from pydl import nn, optim


def mlp(device, native):
    net = pydl.Network([nn.Dense(12, 16), nn.ReLU(), nn.Dense(16, 8), nn.Tanh(), nn.Dropout(0.2), nn.Dense(8, 3)],
                       loss="cross_entropy", optimizer=optim.Adam(lr=1e-2), dtype="float64", seed=0, device=device)
    net.native = native
    return net


def cnn(device, native):
    layers = [nn.Conv2D(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2), nn.Conv2D(4, 6, 3, padding=1), nn.ReLU(),
              nn.AvgPool2D(2), nn.Flatten(), nn.BatchNorm1d(24), nn.Dense(24, 3)]
    net = pydl.Network(layers, loss="cross_entropy", optimizer=optim.SGD(lr=0.05, momentum=0.9), dtype="float64",
                       seed=0, device=device)
    net.native = native
    return net


def data(shape):
    rng = np.random.default_rng(7)
    return rng.standard_normal((50, *shape)), rng.integers(0, 3, 50)


CASES = [(mlp, (12,)), (cnn, (1, 8, 8))]


@pytest.mark.parametrize("native", [True, False], ids=["gpu-plan", "step-by-step"])
@pytest.mark.parametrize("make,shape", CASES, ids=["mlp", "cnn"])
@pytest.mark.parametrize("device", ["cuda-sim", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_two_epochs_on_a_cuda_device_equal_the_cpu(device, make, shape, native):
    if device == "cuda" and not pydl.cuda.is_available():
        pytest.skip(f"no usable GPU: {pydl.cuda.why_unavailable()}")
    x, y = data(shape)
    cpu, sim = make("cpu", True), make(device, native)
    h_cpu = cpu.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=3)
    h_sim = sim.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=3)
    np.testing.assert_allclose(h_sim["loss"], h_cpu["loss"], rtol=1e-10)
    assert h_sim["accuracy"] == h_cpu["accuracy"]
    assert sim.optimizer.steps == cpu.optimizer.steps == 2 * 4
    for p_sim, p_cpu in zip(sim.parameters(), cpu.parameters()):
        np.testing.assert_allclose(sim._dev.to_numpy(p_sim.data), p_cpu.data, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sim.predict_proba(x), cpu.predict_proba(x), rtol=1e-10, atol=1e-12)


def test_the_gpu_plan_trains_whole_epochs_on_the_device(monkeypatch):
    modules = []
    run = pydl.plan.TrainingPlan.run

    def spy(self, *args, **kwargs):
        modules.append(type(self._plan).__module__)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(pydl.plan.TrainingPlan, "run", spy)
    x, y = data((12,))
    mlp("cuda-sim", True).fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert modules and set(modules) == {"pydl._cuda_sim"}
