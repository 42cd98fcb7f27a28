#!/usr/bin/env python3
"""ns per uncontended acquire+release of a threading lock, without and with
the shim, side by side: each measurement is the best of 15 timeit repeats
(CPU time of the thread, so a busy machine's scheduling does not count),
and the runs alternate without/with the shim.

usage: lock_acquire_ns.py [--waitgraph BIN] [--python PY] [--runs N]
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = r'''
import threading, time, timeit
l = threading.Lock(); r = threading.RLock()
g = {"l": l, "r": r}
for name, stmt in (("with Lock", "with l: pass"), ("Lock acquire()+release()", "l.acquire(); l.release()"),
                   ("with RLock", "with r: pass")):
    t = min(timeit.repeat(stmt, globals=g, number=200000, repeat=15, timer=time.thread_time))
    print("%s\t%.1f" % (name, t / 200000 * 1e9))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waitgraph", default=os.path.join(HERE, "..", "build", "bin", "waitgraph"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    shim = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)),
                                         "..", "lib", "waitgraph", "python"))
    best = {"off": {}, "on": {}}
    for i in range(args.runs):
        for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
            env = {k: v for k, v in os.environ.items() if not k.startswith("WAITGRAPH_")}
            if mode == "on":
                env.update(PYTHONPATH=shim, WAITGRAPH_TRACE="/tmp/wg-lock-ns-%d.wgtrace" % os.getpid())
            out = subprocess.run([args.python, "-c", PROBE], env=env, check=True,
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                name, ns = line.split("\t")
                best[mode][name] = min(best[mode].get(name, 1e18), float(ns))
    try:
        os.unlink("/tmp/wg-lock-ns-%d.wgtrace" % os.getpid())
    except OSError:
        pass
    print("| uncontended, best of %d runs | without shim | with shim | added |" % args.runs)
    print("|---|---:|---:|---:|")
    for name, off in best["off"].items():
        on = best["on"][name]
        print("| %s | %.1f ns | %.1f ns | %+.1f ns |" % (name, off, on, on - off))


if __name__ == "__main__":
    sys.exit(main())
