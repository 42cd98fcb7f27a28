#!/usr/bin/env python3
"""Issue 13 item 8: `waitgraph run`'s own memory stays bounded while it
follows a busy service's trace. programs/pool_service.py (an asyncio server
on 127.0.0.1 with a task, ContextVar sets and gets, a run_in_executor and a
to_thread per request; one request in 1,000 loses a write made in a helper
task) serves REQUESTS requests under `waitgraph run`, and
bench/run_memory.py reads the VmRSS of `run` itself after the warm-up and at
the end. Dead contexts and finished executor work are forgotten once
CONTEXT_GONE says so (analyzer/context_eviction.cc), so the growth stays
under a bound; and the report still names the lost write (the forgotten
requests around it did not hide it).

usage: test_run_memory_bounded.py --waitgraph BIN [--python PY]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import run_memory  # noqa: E402
import wgtest  # noqa: E402

REQUESTS = 60000
# Measured before the change: 159 MB over 95,000 requests (1.7 KB each),
# about 100 MB over these 55,000. What stays now: the contexts of the last
# ~2 s of trace (kForgetLagNs) and the loop-affinity sink's own share
# (about 780 bytes per request, not yet bounded: see SECURITY.md).
BOUND_MB = 60


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("run_memory_bounded")
    with wgtest.scratch_dir("wg-runmem-") as tmp:
        try:
            figures = run_memory.measure(args.waitgraph, args.python, REQUESTS, lost_write=True,
                                         tmp=tmp)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            c.fail("the service ran under waitgraph run", repr(e))
            return c.finish()
        print("figures: %s" % figures)
        growth_mb = figures["growth_kb"] / 1024
        c.expect(figures["exit"] == 0, "waitgraph run exits 0 (a warning is not an error)",
                 str(figures["exit"]))
        c.expect(growth_mb <= BOUND_MB, "run's VmRSS grew %.1f MB <= %d MB over %d requests"
                 % (growth_mb, BOUND_MB, REQUESTS))
        c.expect(figures["findings"].count("lost-context-write") == 1,
                 "the lost write among the requests is still reported, once",
                 str(figures["findings"]))
        c.expect(figures["digest"].startswith("digest "), "the service answered every request",
                 figures["digest"])
    return c.finish()


if __name__ == "__main__":
    wgtest.main_guard(main)
