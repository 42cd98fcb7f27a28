#!/usr/bin/env python3
"""Measures the shim's overhead on realistic workloads.

For each workload in bench/workloads/, runs it without and with the shim,
interleaved (off/on, then on/off, ...) so both see the same machine state,
and reports the median wall time of each and their ratio, CPU time, and the
size of the trace the shim wrote. The shim is enabled the way a user would
without the CLI: PYTHONPATH=<shim dir> WAITGRAPH_TRACE=<file>, where the shim
dir is <dir of BIN>/../lib/waitgraph/python.

usage: run_bench.py [--waitgraph BIN] [--python PY] [--repeat N] [--scale S]
                    [--workload NAME ...] [--write bench/RESULTS.md]
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKLOADS = {
    "asyncio_executor_heavy": "thousands of tasks, run_in_executor, executor submit/result",
    "asgiref_round_trips": "asgiref sync_to_async / async_to_sync round trips",
    "asyncio_callback_storm": "asyncio task steps and call_soon callbacks: the stall timer's hot path",
    "contextvar_get_set": "ContextVar get/set/reset: hot gets, set+get, per-request tasks",
    "lock_heavy": "threading Lock/RLock/Condition: uncontended, nested, hand-offs, 8 threads contending",
    "asyncio_lock_heavy": "asyncio.Lock taken uncontended and contended: the Lock owner hooks",
}
FILE_MAGIC = b"WGTRACE1"
FRAME_HEADER = struct.Struct("<III")


LOAD_AT_START = "%.2f %.2f %.2f" % os.getloadavg()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waitgraph", default=os.path.join(REPO, "build", "bin", "waitgraph"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each workload with and without the shim")
    ap.add_argument("--scale", type=float, default=1.0, help="workload size (1.0: ~1-2 s uninstrumented)")
    ap.add_argument("--workload", action="append", choices=sorted(WORKLOADS), help="default: all")
    ap.add_argument("--write", metavar="FILE", help="also write the markdown report to FILE")
    ap.add_argument("--uvicorn", action="store_true",
                    help="also run bench/uvicorn_wrk.py (uvicorn + Starlette under wrk: no shim, "
                         "shim, shim without loop affinity, PYTHONASYNCIODEBUG=1) and append it")
    args = ap.parse_args()

    shim = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)),
                                         "..", "lib", "waitgraph", "python"))
    if not os.path.isdir(shim):
        sys.exit("run_bench.py: no shim at %s (build waitgraph first, or pass --waitgraph)" % shim)
    if args.repeat < 1:
        sys.exit("run_bench.py: --repeat must be at least 1")

    rows = []
    tmp = tempfile.mkdtemp(prefix="wg-bench-")
    try:
        for name in args.workload or list(WORKLOADS):
            rows.append(bench_workload(name, args, shim, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    report = render(rows, args)
    if args.uvicorn:
        report += "\n" + subprocess.run(
            [sys.executable, os.path.join(HERE, "uvicorn_wrk.py"), "--waitgraph", args.waitgraph,
             "--python", args.python], check=True, capture_output=True, text=True).stdout
    sys.stdout.write(report)
    if args.write:
        with open(args.write, "w") as f:
            f.write(report)
        print("wrote " + args.write, file=sys.stderr)


def run_once(argv, env):
    """Wall time and stdout of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate(timeout=600)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit("run_bench.py: %s exited %d\n%s" % (" ".join(argv), proc.returncode,
                                                     err.decode("utf-8", "replace")))
    return wall, out


def children_cpu():
    """User+system time of reaped children so far (a run's is the delta)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def bench_workload(name, args, shim, tmp):
    program = os.path.join(HERE, "workloads", name + ".py")
    argv = [args.python, program, str(args.scale)]
    base_env = dict(os.environ)
    base_env.pop("WAITGRAPH_TRACE", None)
    off, on, cpu_off, cpu_on, sizes, chunks = [], [], [], [], [], []
    outputs = {}
    print("%s: %d x (without, with) shim ..." % (name, args.repeat), file=sys.stderr)
    for i in range(args.repeat):
        trace = os.path.join(tmp, "%s-%d.wgtrace" % (name, i))
        on_env = dict(base_env)
        on_env["PYTHONPATH"] = shim + (os.pathsep + base_env["PYTHONPATH"] if base_env.get("PYTHONPATH") else "")
        on_env["WAITGRAPH_TRACE"] = trace
        order = [("off", base_env), ("on", on_env)]
        if i % 2:
            order.reverse()
        for mode, env in order:
            c0 = children_cpu()
            wall, out = run_once(argv, env)
            cpu = children_cpu() - c0
            outputs.setdefault(mode, out)
            (off if mode == "off" else on).append(wall)
            (cpu_off if mode == "off" else cpu_on).append(cpu)
        if not os.path.exists(trace):
            sys.exit("run_bench.py: the shim wrote no trace at %s; is it enabled by PYTHONPATH=%s?" % (trace, shim))
        with open(trace, "rb") as f:
            data = f.read()
        sizes.append(len(data))
        chunks.append(count_frames(data))
        if i == 0:
            events, analyze_s = analyze(args.waitgraph, trace)
        os.unlink(trace)
    if outputs["off"] != outputs["on"]:
        sys.exit("run_bench.py: %s printed different output with the shim:\n%r\n%r" % (
            name, outputs["off"], outputs["on"]))
    med = statistics.median
    return {
        "name": name, "what": WORKLOADS[name],
        "off": med(off), "on": med(on), "ratio": med(on) / med(off),
        "off_range": (min(off), max(off)), "on_range": (min(on), max(on)),
        "cpu_off": med(cpu_off), "cpu_on": med(cpu_on),
        "trace_bytes": int(med(sizes)), "chunks": int(med(chunks)),
        "events": events, "analyze_s": analyze_s,
    }


def analyze(waitgraph, trace):
    """Events in the trace and the time `waitgraph analyze` takes on it."""
    start = time.perf_counter()
    r = subprocess.run([waitgraph, "analyze", trace, "--format", "json"], capture_output=True)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit("run_bench.py: `waitgraph analyze` failed on %s:\n%s" % (trace, r.stderr.decode("utf-8", "replace")))
    report = json.loads(r.stdout)
    return sum(t.get("events", 0) for t in report.get("traces", [])), elapsed


def count_frames(data):
    if not data.startswith(FILE_MAGIC):
        return 0
    pos, n = len(FILE_MAGIC), 0
    while len(data) - pos >= FRAME_HEADER.size:
        _, size, _ = FRAME_HEADER.unpack_from(data, pos)
        if pos + FRAME_HEADER.size + size > len(data):
            break
        pos += FRAME_HEADER.size + size
        n += 1
    return n


def machine_facts(python):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    pyver = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                           capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain"], capture_output=True, text=True).stdout
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu or platform.processor() or "unknown",
        "kernel": platform.release(),
        "python": "%s (%s)" % (pyver, python),
        "commit": commit + (" (with uncommitted changes)" if dirty.strip() else ""),
    }


def render(rows, args):
    facts = machine_facts(args.python)
    lines = [
        "# waitgraph shim overhead",
        "",
        "Median wall time of %d interleaved runs of each workload without and with the shim "
        "(scale %g); overhead = with / without. CPU is user+system time of the process; "
        "the trace is the one file the shim wrote per run (events and `waitgraph analyze` time: "
        "from the first run)." % (args.repeat, args.scale),
        "",
        "| workload | without shim | with shim | overhead | CPU without | CPU with | CPU overhead "
        "| trace size | chunks | events | bytes/event | `analyze` time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append("| `%s` (%s) | %.3f s | %.3f s | **%.2fx** | %.2f s | %.2f s | %.2fx | %s | %d | %d | %.1f | %.2f s |" % (
            r["name"], r["what"], r["off"], r["on"], r["ratio"], r["cpu_off"], r["cpu_on"],
            r["cpu_on"] / r["cpu_off"], human_bytes(r["trace_bytes"]), r["chunks"], r["events"],
            r["trace_bytes"] / max(1, r["events"]), r["analyze_s"]))
    lines += ["", "Ranges (min-max wall time): " + "; ".join(
        "`%s` without %.3f-%.3f s, with %.3f-%.3f s" % ((r["name"],) + r["off_range"] + r["on_range"])
        for r in rows), ""]
    lines += [
        "## Machine",
        "",
        "- date: %s" % facts["date"],
        "- nproc: %s; CPU: %s; kernel %s" % (facts["nproc"], facts["cpu"], facts["kernel"]),
        "- load average when the benchmark started: %s (other work on the machine widens the ranges)" % LOAD_AT_START,
        "- python: %s" % facts["python"],
        "- waitgraph commit: %s" % facts["commit"],
        "",
        "## Reproduce",
        "",
        "```",
        "cmake -S . -B build && cmake --build build -j",
        "%s bench/run_bench.py --waitgraph build/bin/waitgraph --python %s --repeat %d%s --write bench/RESULTS.md" % (
            shlex.quote(args.python), shlex.quote(args.python), args.repeat,
            "" if args.scale == 1.0 else " --scale %g" % args.scale),
        "```",
        "",
    ]
    return "\n".join(lines)


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


if __name__ == "__main__":
    main()
