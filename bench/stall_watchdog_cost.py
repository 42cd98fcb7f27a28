#!/usr/bin/env python3
"""The stall watchdog's own cost, side by side in one run: a workload
without the shim, with the shim but stall detection off
(WAITGRAPH_STALL_MS=0), and with the whole shim (default threshold),
interleaved; median wall times and ratios vs. no shim.

usage: stall_watchdog_cost.py [--waitgraph BIN] [--python PY] [--repeat N]
                              [--workload NAME]   (default asyncio_callback_storm)
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--waitgraph", default=os.path.join(HERE, "..", "build", "bin", "waitgraph"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--workload", default="asyncio_callback_storm")
    args = ap.parse_args()
    shim = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)),
                                         "..", "lib", "waitgraph", "python"))
    program = os.path.join(HERE, "workloads", args.workload + ".py")
    base = {k: v for k, v in os.environ.items() if not k.startswith("WAITGRAPH_") and k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory(prefix="wg-stall-bench-") as tmp:
        trace = os.path.join(tmp, "t-%p.wgtrace")
        configs = {
            "no shim": base,
            "shim, stall detection off": dict(base, PYTHONPATH=shim, WAITGRAPH_TRACE=trace,
                                              WAITGRAPH_STALL_MS="0"),
            "whole shim (stall detection on)": dict(base, PYTHONPATH=shim, WAITGRAPH_TRACE=trace),
        }
        times = {name: [] for name in configs}
        for i in range(args.repeat):
            order = list(configs) if i % 2 == 0 else list(reversed(list(configs)))
            for name in order:
                start = time.monotonic()
                subprocess.run([args.python, program], env=configs[name], check=True,
                               stdout=subprocess.DEVNULL, cwd=tmp)
                times[name].append(time.monotonic() - start)
                for f in os.listdir(tmp):
                    os.unlink(os.path.join(tmp, f))
    none = statistics.median(times["no shim"])
    print("| `%s`, median of %d interleaved runs | wall time | vs. no shim |" % (args.workload, args.repeat))
    print("|---|---:|---:|")
    for name, ts in times.items():
        m = statistics.median(ts)
        print("| %s | %.3f s | **%.2fx** |" % (name, m, m / none))
    off = statistics.median(times["shim, stall detection off"])
    on = statistics.median(times["whole shim (stall detection on)"])
    print("\nstall detection alone: %.2fx (on/off), %.0f ns per callback or task step" % (
        on / off, (on - off) * 1e9 / 750000))


if __name__ == "__main__":
    sys.exit(main())
