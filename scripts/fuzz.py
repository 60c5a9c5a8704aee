#!/usr/bin/env python
"""The kernel fuzzer's long budget: random calls of every public kernel, crash-isolated in worker processes.

    python scripts/fuzz.py --calls 1000000            # 2-10 min on two cores, depending on their load
    python scripts/fuzz.py --calls 20000 --kernel conv2d_forward --seed 7

Prints progress and, at the end, the calls by outcome class (ok-matched, TypeError, ValueError,
MemoryError, mismatch, bad-exception, crash, hang, write-before-raise; see tests/kernels/fuzz/kernel_fuzz.py)
and by kernel, and the first failing cases with how to reproduce them. Exit status 1 when any call failed.
"""
import argparse
import concurrent.futures as cf
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "kernels", "fuzz"))
import kernel_fuzz as F  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1_000_000, help="kernel calls in all (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--batch", type=int, default=5000, help="calls a worker runs per request")
    ap.add_argument("--timeout", type=float, default=120, help="seconds before a batch counts as hung")
    ap.add_argument("--kernel", action="append", help="fuzz only this kernel (repeatable)")
    ap.add_argument("--json", help="write counts and failures here")
    args = ap.parse_args(argv)
    names = sorted(args.kernel) if args.kernel else None
    if names and not set(names) <= set(F.TEMPLATES):
        ap.error(f"unknown kernel(s): {sorted(set(names) - set(F.TEMPLATES))}")

    counts = dict.fromkeys(F.OUTCOMES, 0)
    failures = []
    lock = threading.Lock()
    done = [0]
    t0 = time.time()
    batches = [(s, min(args.batch, args.calls - s)) for s in range(0, args.calls, args.batch)]
    local = threading.local()
    runners = []

    def run(batch):
        if not hasattr(local, "runner"):
            local.runner = F.Runner(timeout=args.timeout)
            with lock:
                runners.append(local.runner)
        start, count = batch
        c, f = local.runner.run_random(args.seed, start, count, names)
        with lock:
            for k, v in c.items():
                counts[k] += v
            failures.extend(f)
            done[0] += count
            rate = done[0] / (time.time() - t0)
            print(f"{done[0]:>9,} calls  {rate:,.0f}/s  " + "  ".join(f"{k} {v}" for k, v in counts.items() if v),
                  flush=True)

    try:
        with cf.ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(run, batches))
    finally:
        for r in runners:
            r.close()

    elapsed = time.time() - t0
    by_kernel = {}
    for outcome, detail, name, case, seed in failures:
        by_kernel.setdefault(name, {}).setdefault(outcome, 0)
        by_kernel[name][outcome] += 1
    print(f"\n{sum(counts.values()):,} kernel calls in {elapsed:.0f} s, seed {args.seed}")
    width = max(map(len, F.OUTCOMES))
    for k in F.OUTCOMES:
        print(f"  {k:<{width}} {counts[k]:>10,}")
    if failures:
        print(f"\n{len(failures)} failing calls by kernel: {by_kernel}")
        for outcome, detail, name, case, seed in failures[:20]:
            print(f"\n{outcome}: {detail}\n  {F.describe_case(name, case, seed)}\n"
                  f"  reproduce: python -c \"import sys; sys.path.insert(0, 'tests/kernels/fuzz'); import kernel_fuzz as F; "
                  f"print(F.reproduce(*F.draw_case(F.Chooser({seed!r}){', ' + repr(name) if names else ''}), "
                  f"{seed!r}))\"")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"calls": sum(counts.values()), "seconds": elapsed, "seed": args.seed, "counts": counts,
                       "failures": [{"outcome": o, "detail": d, "case": F.describe_case(n, c, s)}
                                    for o, d, n, c, s in failures]}, fh, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
