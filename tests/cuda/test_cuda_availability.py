"""Without a GPU (every CI machine), pydl imports, says why CUDA is unavailable and refuses device="cuda"."""
import subprocess
import sys

import pytest

import pydl
from pydl import nn


def test_without_a_gpu_cuda_is_unavailable_and_says_why():
    if pydl.cuda.is_available():
        pytest.skip("this machine has a usable GPU")
    assert pydl.cuda.why_unavailable()  # not built with nvcc / no driver / no device: each names its cause
    with pytest.raises(RuntimeError, match="device 'cuda' is not available here: .+"):
        pydl.Network([nn.Dense(2, 1)], device="cuda")
    with pytest.raises(RuntimeError, match="device 'cuda' is not available here"):
        pydl.Network([nn.Dense(2, 1)]).to("gpu")


def test_the_simulator_is_always_there():
    assert pydl.cuda.simulator_available()
    assert pydl.backends.get("cuda-sim").name == "cuda-sim"


def test_import_pydl_works_where_the_cuda_module_cannot_run(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import pydl; print(pydl.cuda.is_available())"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("True", "False")
