"""The CUDA simulator catches what a GPU would hide: a program of small kernels (sim_programs/sim_checks.cu),
two of them broken on purpose, compiled with g++ and AddressSanitizer against csrc/cuda/sim.

Exit codes of the program: 0 right, 3 the result depends on the order of a block's threads, 4 the launch failed.
"""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests" / "cuda" / "sim_programs" / "sim_checks.cu"
SIMULATOR = ROOT / "csrc" / "cuda" / "sim" / "cuda_sim.cpp"


@pytest.fixture(scope="module")
def sim_checks(tmp_path_factory):
    compiler = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("g++")
    if compiler is None or not SIMULATOR.exists():
        pytest.skip("needs g++ and the source tree (csrc/cuda/sim)")
    exe = tmp_path_factory.mktemp("sim") / "sim_checks"
    cmd = [compiler, "-std=c++17", "-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer", "-DPYDL_CUDA_SIM=1",
           f"-I{ROOT / 'csrc'}", "-x", "c++", str(SOURCE), "-x", "none", str(SIMULATOR), "-o", str(exe)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return exe


def run(exe, case):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    done = subprocess.run([str(exe), case], capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stderr


@pytest.mark.parametrize("case", ["barrier", "warp_shuffle", "ballot_and_atomics"])
def test_correct_kernels_give_the_same_result_in_every_thread_order(sim_checks, case):
    rc, err = run(sim_checks, case)
    assert rc == 0, err


def test_a_missing_syncthreads_is_reported_as_order_dependence(sim_checks):
    rc, err = run(sim_checks, "missing_barrier")
    assert rc == 3, err
    assert "depends on the order" in err


def test_an_out_of_bounds_write_is_caught_by_address_sanitizer(sim_checks):
    rc, err = run(sim_checks, "out_of_bounds")
    assert rc != 0
    assert "AddressSanitizer: heap-buffer-overflow" in err and "WRITE of size 4" in err
    assert "write_past_end" in err  # the report points at the kernel


def test_a_barrier_in_divergent_code_fails_the_launch(sim_checks):
    rc, err = run(sim_checks, "divergent_barrier")
    assert rc == 4, err
    assert "__syncthreads reached by 16 of the 32 threads" in err
