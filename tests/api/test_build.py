"""The package imports, describes its build and honours the thread and SIMD settings."""
import numpy as np
import pytest

import pydl


def test_build_info_reports_every_documented_field():
    info = pydl.build_info()
    for key in ["version", "compiler", "simd", "cpu_simd", "openmp", "threads", "gemm", "cuda", "numpy"]:
        assert key in info, key
    assert info["version"] == pydl.__version__
    assert info["simd"] in {"generic", "avx2", "avx512"}


def test_set_num_threads_is_reported_back(threads):
    assert pydl.get_num_threads() == threads
    assert pydl.build_info()["threads"] == threads


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError, match=r"n must be in \[1, 1024\], got 0"):
        pydl.set_num_threads(0)


def test_unknown_simd_level_is_a_value_error():
    with pytest.raises(ValueError, match="level must be 'generic', 'avx2' or 'avx512'"):
        pydl._core.set_simd_level("sse9")


def test_simd_level_is_capped_at_what_the_cpu_supports(simd_level):
    assert pydl.build_info()["simd"] == simd_level


def test_kernels_release_results_as_numpy_arrays():
    y = pydl.kernels.sigmoid(np.zeros(3, np.float32))
    assert isinstance(y, np.ndarray) and y.dtype == np.float32


def test_only_the_bindings_include_pybind11():
    # The build compiles everything outside csrc/bindings without pybind11's include path; this names the
    # file at once instead of a compiler error (and holds where the source tree is at hand).
    from pathlib import Path

    csrc = Path(__file__).resolve().parents[2] / "csrc"
    if not csrc.is_dir():
        pytest.skip("no source tree next to the tests")
    offenders = [str(p.relative_to(csrc)) for p in csrc.rglob("*.[ch]*")
                 if "bindings" not in p.parts and not p.name.startswith("bindings_")
                 and any(token in p.read_text() for token in ("<pybind11", '"check.h"', '"registry.h"', "<Python.h>"))]
    assert not offenders
