#!/usr/bin/env python3
"""Does the shim move the program's garbage-collection moments?

CPython collects generation 0 when the count of GC-tracked allocations
minus deallocations passes a threshold (700), so every GC-tracked object
the shim allocates per event (a weak reference, a bound method, a frame
object, a tuple) brings collections earlier, and with them finalizers,
ResourceWarnings and weakref callbacks. For each workload in
bench/workloads/ this runs it without and with the shim and prints how many
collections of each generation ran, from gc.get_stats() at exit (the same
program; the counts are deterministic up to thread scheduling).

usage: gc_moments.py [--waitgraph BIN] [--python PY] [--scale S] [--workload NAME ...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKLOADS = ["asyncio_executor_heavy", "asgiref_round_trips", "asyncio_callback_storm",
             "contextvar_get_set", "lock_heavy", "asyncio_lock_heavy"]

# Runs the workload as __main__, then reports the collections on stderr.
RUNNER = r"""
import gc, json, runpy, sys
program = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    runpy.run_path(program, run_name="__main__")
finally:
    sys.stderr.write("\nGC-STATS " + json.dumps([g["collections"] for g in gc.get_stats()]) + "\n")
"""


def collections(python, program, scale, env):
    r = subprocess.run([python, "-c", RUNNER, program, str(scale)], env=env,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit("gc_moments.py: %s failed:\n%s" % (program, r.stderr))
    for line in r.stderr.splitlines():
        if line.startswith("GC-STATS "):
            return json.loads(line[len("GC-STATS "):])
    sys.exit("gc_moments.py: no GC-STATS line from %s" % program)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waitgraph", default=os.path.join(REPO, "build", "bin", "waitgraph"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--workload", action="append", choices=WORKLOADS, help="default: all")
    args = ap.parse_args()
    shim = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)),
                                         "..", "lib", "waitgraph", "python"))
    if not os.path.isdir(shim):
        sys.exit("gc_moments.py: no shim at %s (build waitgraph first, or pass --waitgraph)" % shim)
    base = dict(os.environ)
    base.pop("WAITGRAPH_TRACE", None)
    print("| workload | collections without shim (gen 0, 1, 2) | with shim | gen-0 ratio |")
    print("|---|---|---|---:|")
    with tempfile.TemporaryDirectory(prefix="wg-gc-") as tmp:
        for name in args.workload or WORKLOADS:
            program = os.path.join(HERE, "workloads", name + ".py")
            on = dict(base)
            on["PYTHONPATH"] = shim + (os.pathsep + base["PYTHONPATH"] if base.get("PYTHONPATH") else "")
            on["WAITGRAPH_TRACE"] = os.path.join(tmp, name + ".wgtrace")
            off_c = collections(args.python, program, args.scale, base)
            on_c = collections(args.python, program, args.scale, on)
            print("| `%s` | %s | %s | %.2fx |" % (name, ", ".join(map(str, off_c)),
                                                 ", ".join(map(str, on_c)), on_c[0] / max(1, off_c[0])))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
