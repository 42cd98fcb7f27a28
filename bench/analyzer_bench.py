#!/usr/bin/env python3
"""Measures the analyzer end to end on large traces recorded from a real
workload (bench/workloads/asyncio_executor_heavy.py under the shim).

For each scale, records one trace (unbounded), then runs `waitgraph analyze
--format json` on it --repeat times and reports the median wall and CPU time,
events/s (events / wall time), bytes per event on disk and resident bytes per
event (the analyzer's peak RSS / events; its RSS on an empty trace is shown
too, the fixed part). Two or more scales show how each grows.

With --compare OTHER_BIN (an older build's waitgraph), each run of this
build's analyzer is followed by one of OTHER_BIN's on the same trace
(interleaved, so both see the same machine load), and both are reported.

usage: analyzer_bench.py [--waitgraph BIN] [--compare OTHER_BIN] [--python PY]
                         [--scale S ...] [--repeat N] [--keep DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKLOAD = os.path.join(HERE, "workloads", "asyncio_executor_heavy.py")


def record(args, shim, scale, trace):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAITGRAPH_")}
    env["PYTHONPATH"] = shim + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["WAITGRAPH_TRACE"] = trace
    env["WAITGRAPH_TRACE_MAX"] = "0"  # the whole trace: the analyzer's input grows with the scale
    start = time.perf_counter()
    subprocess.run([args.python, WORKLOAD, str(scale)], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(waitgraph, trace, repeat):
    return measure_interleaved([waitgraph], trace, repeat)[0]


def measure_interleaved(binaries, trace, repeat):
    """Runs each of `binaries` in turn, `repeat` rounds: one row each."""
    runs = [([], [], [], None) for _ in binaries]
    for _ in range(repeat):
        for i, waitgraph in enumerate(binaries):
            walls, cpus, rss, _report = runs[i]
            report = run_once(waitgraph, trace, walls, cpus, rss)
            runs[i] = (walls, cpus, rss, report)
    rows = []
    for walls, cpus, rss, report in runs:
        events = sum(t.get("events", 0) for t in report.get("traces", []))
        med = statistics.median
        rows.append({"events": events, "wall": med(walls), "wall_range": (min(walls), max(walls)),
                     "cpu": med(cpus), "cpu_range": (min(cpus), max(cpus)), "rss": med(rss)})
    return rows


def run_once(waitgraph, trace, walls, cpus, rss):
    """One `analyze --format json` run: appends its wall, CPU and peak RSS; its report."""
    pid = os.fork()
    if pid == 0:  # the child execs analyze with stdout to a file: its own rusage below
        out = os.open(trace + ".json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.execv(waitgraph, [waitgraph, "analyze", trace, "--format", "json"])
    start = time.perf_counter()
    _, status, usage = os.wait4(pid, 0)
    walls.append(time.perf_counter() - start)
    cpus.append(usage.ru_utime + usage.ru_stime)
    rss.append(usage.ru_maxrss * 1024)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("analyzer_bench.py: `%s analyze %s` failed" % (waitgraph, trace))
    with open(trace + ".json") as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waitgraph", default=os.path.join(REPO, "build", "bin", "waitgraph"))
    ap.add_argument("--compare", metavar="OTHER_BIN",
                    help="another build's waitgraph, run interleaved on the same traces")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--scale", type=float, action="append", help="workload scales (default: 4 and 20)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", metavar="DIR", help="keep the recorded traces in DIR")
    args = ap.parse_args()
    scales = args.scale or [4.0, 20.0]
    shim = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)),
                                         "..", "lib", "waitgraph", "python"))
    tmp = args.keep or tempfile.mkdtemp(prefix="wg-analyzer-bench-")
    os.makedirs(tmp, exist_ok=True)
    try:
        # The fixed part: analyze on a trace of a program that does nothing.
        empty = os.path.join(tmp, "empty.wgtrace")
        if os.path.exists(empty):
            os.unlink(empty)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAITGRAPH_")}
        env.update(PYTHONPATH=shim, WAITGRAPH_TRACE=empty)
        subprocess.run([args.python, "-c", "pass"], env=env, check=True)
        base = measure(args.waitgraph, empty, 1)
        rows = []
        for scale in scales:
            trace = os.path.join(tmp, "executor-heavy-%g.wgtrace" % scale)
            if not os.path.exists(trace):
                print("recording asyncio_executor_heavy %g ..." % scale, file=sys.stderr)
                record(args, shim, scale, trace)
            print("analyzing %s x%d ..." % (trace, args.repeat), file=sys.stderr)
            binaries = [args.waitgraph] + ([args.compare] if args.compare else [])
            for waitgraph, row in zip(binaries, measure_interleaved(binaries, trace, args.repeat)):
                row["scale"] = scale
                row["bytes"] = os.path.getsize(trace)
                row["analyzer"] = "this build" if waitgraph == args.waitgraph else args.compare
                rows.append(row)
        print("load average at the end: %.2f %.2f %.2f" % os.getloadavg())
        print("analyzer RSS on an empty trace: %.1f MiB" % (base["rss"] / 2**20))
        print("| analyzer | scale | events | trace | bytes/event | analyze wall (range) | CPU (range) "
              "| events/s (wall) | events/s (CPU) | peak RSS | resident bytes/event |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print("| %s | %g | %d | %.1f MiB | %.1f | %.2f s (%.2f-%.2f) | %.2f s (%.2f-%.2f) | %.2fM | %.2fM "
                  "| %.0f MiB | %.0f |" % (
                r["analyzer"], r["scale"], r["events"], r["bytes"] / 2**20,
                r["bytes"] / max(1, r["events"]),
                r["wall"], r["wall_range"][0], r["wall_range"][1], r["cpu"], r["cpu_range"][0],
                r["cpu_range"][1],
                r["events"] / r["wall"] / 1e6, r["events"] / max(r["cpu"], 1e-9) / 1e6,
                r["rss"] / 2**20, r["rss"] / max(1, r["events"])))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
