#!/usr/bin/env python3
"""The shim's cost in instructions: the steady figure on a shared machine.

Wall and CPU times on a machine shared with other work move by tens of
percent from run to run; the number of instructions a run executes does
not. For each workload in bench/workloads/ this runs it once without and
once with the shim under valgrind's callgrind and prints the instructions
executed (all threads: the program's and the shim's writer and watchdogs)
and their ratio, plus the shim's fixed start-up cost (an empty program).

Under valgrind a program runs ~50x slower, so the shim's time thresholds
are scaled alike (WAITGRAPH_STALL_MS, WAITGRAPH_TASK_SNAPSHOT_MS): the shim
then does the same work as in a real run, not a stall report per callback.

usage: shim_instructions.py [--waitgraph BIN] [--python PY] [--scale S] [--workload NAME ...]
needs: valgrind
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKLOADS = ["asyncio_executor_heavy", "asgiref_round_trips", "asyncio_callback_storm",
             "contextvar_get_set", "lock_heavy", "asyncio_lock_heavy"]
SLOWDOWN = 50  # valgrind's, roughly: the shim's time thresholds are scaled by it


def instructions(python, argv, env, tmp):
    out = os.path.join(tmp, "callgrind.out")
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, python] + argv,
                       env=env, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        sys.exit("shim_instructions.py: %s failed:\n%s" % (" ".join(argv), r.stderr[-2000:]))
    m = re.search(r"Collected : (\d+)", r.stderr)
    if not m:
        sys.exit("shim_instructions.py: no instruction count from valgrind")
    os.unlink(out)
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waitgraph", default=os.path.join(REPO, "build", "bin", "waitgraph"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--workload", action="append", choices=WORKLOADS, help="default: all")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("shim_instructions.py: needs valgrind (apt-get install valgrind)")
    shim = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)),
                                         "..", "lib", "waitgraph", "python"))
    if not os.path.isdir(shim):
        sys.exit("shim_instructions.py: no shim at %s (build waitgraph first, or pass --waitgraph)" % shim)
    off = dict(os.environ)
    off.pop("WAITGRAPH_TRACE", None)
    print("Instructions (callgrind, all threads), one run each, scale %g:" % args.scale)
    print()
    print("| workload | without shim | with shim | ratio | work only (start-up taken out) |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="wg-instr-") as tmp:
        on = dict(off)
        on["PYTHONPATH"] = shim + (os.pathsep + off["PYTHONPATH"] if off.get("PYTHONPATH") else "")
        on["WAITGRAPH_TRACE"] = os.path.join(tmp, "t.wgtrace")
        on["WAITGRAPH_STALL_MS"] = str(100 * SLOWDOWN)
        on["WAITGRAPH_TASK_SNAPSHOT_MS"] = str(500 * SLOWDOWN)
        empty = ["-c", "import asyncio, concurrent.futures"]
        base_off = instructions(args.python, empty, off, tmp)
        base_on = instructions(args.python, empty, on, tmp)
        os.unlink(on["WAITGRAPH_TRACE"])
        print("| (start-up: `import asyncio, concurrent.futures`) | %s | %s | %.2fx | - |" % (
            "{:,}".format(base_off), "{:,}".format(base_on), base_on / base_off))
        sys.stdout.flush()
        for name in args.workload or WORKLOADS:
            argv = [os.path.join(HERE, "workloads", name + ".py"), str(args.scale)]
            n_off = instructions(args.python, argv, off, tmp)
            n_on = instructions(args.python, argv, on, tmp)
            if os.path.exists(on["WAITGRAPH_TRACE"]):
                os.unlink(on["WAITGRAPH_TRACE"])
            print("| `%s` | %s | %s | **%.2fx** | %.2fx |" % (
                name, "{:,}".format(n_off), "{:,}".format(n_on), n_on / n_off,
                (n_on - base_on) / max(1, n_off - base_off)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
