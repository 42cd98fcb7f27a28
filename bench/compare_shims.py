#!/usr/bin/env python3
"""Wall and CPU time of the bench workloads without the shim and with two
(or more) builds of it, interleaved: each round runs every configuration
once, in an order rotated from round to round, so all see the same machine
state. Prints, per workload and configuration, the median wall and CPU
(user+system) time, their ranges, and the medians' ratios to the run
without the shim. Instruction counts (bench/shim_instructions.py) are the
steadier figure on a shared machine; this says what a user would time.

usage: compare_shims.py --shim NAME=SHIM_DIR [--shim ...] [--rounds N] [--scale S] [WORKLOAD ...]
  SHIM_DIR: a build's lib/waitgraph/python (e.g. build/lib/waitgraph/python)
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ["asyncio_executor_heavy", "asgiref_round_trips", "asyncio_callback_storm",
             "contextvar_get_set", "lock_heavy", "asyncio_lock_heavy"]


def run_once(python, shim, workload, scale, tmp):
    env = dict(os.environ)
    env.pop("WAITGRAPH_TRACE", None)
    if shim:
        env["PYTHONPATH"] = shim
        env["WAITGRAPH_TRACE"] = os.path.join(tmp, "t.wgtrace")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([python, os.path.join(HERE, "workloads", workload + ".py"), str(scale)], env=env,
                   stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def summary(name, runs, base_wall, base_cpu):
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return "%s: wall %.3f s (%.3f-%.3f) %.2fx, CPU %.3f s (%.3f-%.3f) %.2fx" % (
        name, wall, min(walls), max(walls), wall / base_wall, cpu, min(cpus), max(cpus),
        cpu / base_cpu)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shim", action="append", required=True, metavar="NAME=SHIM_DIR")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("workload", nargs="*", help="default: all of " + ", ".join(WORKLOADS))
    args = ap.parse_args()
    for workload in args.workload:
        if workload not in WORKLOADS:
            sys.exit("compare_shims.py: no workload %s (%s)" % (workload, ", ".join(WORKLOADS)))
    configs = [("no shim", None)]
    for spec in args.shim:
        name, _, path = spec.partition("=")
        if not os.path.isdir(os.path.join(path, "waitgraph")):
            sys.exit("compare_shims.py: no shim in %s" % path)
        configs.append((name, os.path.abspath(path)))
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="wg-compare-") as tmp:
        for workload in args.workload or WORKLOADS:
            runs = {name: [] for name, _ in configs}
            for r in range(args.rounds):
                turn = r % len(configs)
                for name, shim in configs[turn:] + configs[:turn]:
                    runs[name].append(run_once(args.python, shim, workload, args.scale, tmp))
            base_wall = statistics.median(w for w, _ in runs["no shim"])
            base_cpu = statistics.median(c for _, c in runs["no shim"])
            print(workload + " | " + " | ".join(summary(name, runs[name], base_wall, base_cpu)
                                               for name, _ in configs), flush=True)
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
