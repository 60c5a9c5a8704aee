"""The kernel fuzzer (kernel_fuzz.py) in the test suite: a short budget by default (about 30 s on two busy cores), the long
one (1,000,000 calls) with `pytest -m fuzz` or `python scripts/fuzz.py`. Every case runs in a worker
process, so a crash or hang fails the test with the reproducing case instead of killing pytest."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernel_fuzz as F
from pydl import kernels as K
from pydl import reference as R


@pytest.fixture(scope="module")
def runner():
    r = F.Runner(timeout=60)
    yield r
    r.close()


def _assert_clean(failures):
    lines = [f"{outcome}: {detail}\n    {F.describe_case(name, case, seed)}"
             for outcome, detail, name, case, seed in failures[:10]]
    assert not failures, f"{len(failures)} failing calls, first ones:\n" + "\n".join(lines)


def test_every_public_kernel_is_fuzzed():
    assert set(F.TEMPLATES) == set(K.__all__)
    assert set(K.__all__) <= set(R.__all__)


def test_a_segfault_and_a_hang_become_outcomes_and_the_run_goes_on():
    r = F.Runner(timeout=2)
    try:
        ok = ("relu", {0: F.arr("float64", (3,))}, 0)
        got = r.run_cases([ok, ("__crash__", {}, 0), ok, ("__hang__", {}, 0), ok])
    finally:
        r.close()
    assert [g[0] for g in got] == ["ok-matched", "crash", "ok-matched", "hang", "ok-matched"]
    assert got[1][1] != "exit code 0"  # SIGSEGV (-11), or 1 under AddressSanitizer, which reports it


def test_outcome_classes_are_what_the_kernels_do():
    # One case of each class the driver can tell apart without a bug in the kernels.
    cases = [("sigmoid", {0: F.arr("float32", (2, 3))}, 1),
             ("sigmoid", {0: F.arr("int64", (2, 3))}, 1),
             ("sigmoid", {0: F.arr("float64", (2, 3), "nan")}, 1),
             ("conv2d_forward", {0: F.arr("float64", (1, 1, 3, 3)), 1: F.arr("float64", (1, 1, 2, 2)),
                                 3: F.val(("scalar", "BadIndex"))}, 1)]
    r = F.Runner()
    try:
        got = [o for o, _ in r.run_cases(cases)]
    finally:
        r.close()
    assert got == ["ok-matched", "TypeError", "ValueError", "TypeError"]


def test_short_random_budget(runner):
    # 10,000 calls spread evenly over the kernels, fixed seed (PYDL_FUZZ_SEED to vary it).
    seed = int(os.environ.get("PYDL_FUZZ_SEED", "0"))
    counts, failures = runner.run_random(seed, 0, 10_000, sorted(F.TEMPLATES))
    _assert_clean(failures)
    assert counts["ok-matched"] > 2500 and counts["TypeError"] > 800 and counts["ValueError"] > 800


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hypothesis_cases(runner, data):
    name, case = F.draw_case(F.HypothesisChooser(data))
    seed = data.draw(st.integers(0, 2 ** 32 - 1))
    (outcome, detail), = runner.run_cases([(name, case, seed)])
    assert outcome not in F.FAILURES, f"{outcome}: {detail}\n{F.describe_case(name, case, seed)}"


@pytest.mark.fuzz
def test_long_random_budget():
    # >= 1,000,000 kernel calls on two workers; scripts/fuzz.py prints the same counts with progress.
    import concurrent.futures as cf
    seed = int(os.environ.get("PYDL_FUZZ_SEED", "1"))
    total, parts = 1_000_000, 2
    runners = [F.Runner(timeout=120) for _ in range(parts)]
    try:
        with cf.ThreadPoolExecutor(parts) as pool:
            results = list(pool.map(lambda i: runners[i].run_random(seed, i * total // parts, total // parts),
                                    range(parts)))
    finally:
        for r in runners:
            r.close()
    failures = [f for _, fs in results for f in fs]
    counts = {k: sum(c[k] for c, _ in results) for k in F.OUTCOMES}
    print(counts)
    assert sum(counts.values()) == total
    _assert_clean(failures)
