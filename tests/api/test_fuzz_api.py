"""The Network API under property-based fuzzing (tests/api/fuzz_api.py), each batch of cases in a worker
process so that a crash or a hang fails the test with the case that caused it instead of ending the run.

The default run keeps a short budget; ``pytest -m fuzz`` runs the long one (PYDL_FUZZ_API_CASES cases,
default 100,000, in batches of 5,000)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("fuzz_api.py")


def _run_worker(tmp_path, seed, cases, timeout):
    log = tmp_path / f"case-{seed}.txt"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    try:
        proc = subprocess.run([sys.executable, str(WORKER), str(seed), str(cases), str(log)], capture_output=True,
                              text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"fuzz worker (seed {seed}) hung; last case:\n{log.read_text() if log.exists() else '?'}")
    last = log.read_text() if log.exists() else "?"
    if proc.returncode < 0:
        pytest.fail(f"fuzz worker (seed {seed}) died with signal {-proc.returncode}; last case:\n{last}")
    assert proc.returncode == 0, f"fuzz failure (seed {seed}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_network_api_short_fuzz(tmp_path):
    counts = _run_worker(tmp_path, seed=20261129, cases=300, timeout=240)
    assert counts["cases"] == 300
    assert sum(v for k, v in counts.items() if k.startswith("ok:")) > 0  # some calls got through and were checked


@pytest.mark.fuzz
def test_network_api_long_fuzz(tmp_path):
    total = int(os.environ.get("PYDL_FUZZ_API_CASES", "100000"))
    batch = 5000
    totals = {}
    for i, start in enumerate(range(0, total, batch)):
        counts = _run_worker(tmp_path, seed=1000 + i, cases=min(batch, total - start), timeout=3600)
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
    print("Network API fuzz outcomes:", json.dumps(totals, sort_keys=True))
    assert totals["cases"] == total
