#!/usr/bin/env python3
"""Issue 13 item 8: `waitgraph run`'s own memory stays bounded while it
follows a busy service's trace. programs/pool_service.py (an asyncio server
on 127.0.0.1 with a task, ContextVar sets and gets, a run_in_executor and a
to_thread per request; one request in 1,000 loses a write made in a helper
task) serves REQUESTS requests under `waitgraph run`, and
bench/run_memory.py reads the VmRSS of `run` itself halfway and at the end. Dead contexts and finished executor work are forgotten once
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
# Measured from the middle (after 30,000 requests) to the end, so that the
# window the context model keeps (the last ~1 s of trace: kForgetLagNs, and
# up to a pass's worth of dead contexts) is full at both readings.
WARM = 30000
# Per request, on a loaded 2-core machine: 2.8 KB before dead contexts were
# forgotten; 1.7 KB since (the context model now holds steady at the last
# ~1-2 s of requests; what grows is
# mostly the loop-affinity sink's, about 780 bytes per request with the
# context model off: not bounded yet, see SECURITY.md). The bound catches
# the context model keeping every request again, with a margin for load.
BOUND_BYTES_PER_REQUEST = 2300
# The growth between two readings swings with the machine's load (344 to
# 3,013 bytes per request in runs of the same build minutes apart: when the
# analysis lags the service, a full pass of dead contexts and the
# loop-affinity table's fill fall between the readings or not), while
# keeping every request again is above the bound in every run. So a run
# over the bound is measured once more, and the smaller figure counts.
ATTEMPTS = 2


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("run_memory_bounded")
    figures = None
    for _ in range(ATTEMPTS):
        with wgtest.scratch_dir("wg-runmem-") as tmp:
            try:
                figures = run_memory.measure(args.waitgraph, args.python, REQUESTS,
                                             lost_write=True, warm=WARM, tmp=tmp)
            except Exception as e:  # noqa: BLE001 - reported as a failure
                c.fail("the service ran under waitgraph run", repr(e))
                return c.finish()
        print("figures: %s" % figures)
        if figures["bytes_per_request"] <= BOUND_BYTES_PER_REQUEST:
            break
    if figures is not None:
        growth_mb = figures["growth_kb"] / 1024
        c.expect(figures["exit"] == 0, "waitgraph run exits 0 (a warning is not an error)",
                 str(figures["exit"]))
        c.expect(figures["bytes_per_request"] <= BOUND_BYTES_PER_REQUEST,
                 "run's VmRSS grew %.1f MB over the last %d requests: %d <= %d bytes per request"
                 % (growth_mb, REQUESTS - WARM, figures["bytes_per_request"],
                    BOUND_BYTES_PER_REQUEST))
        c.expect(figures["findings"].count("lost-context-write") == 1,
                 "the lost write among the requests is still reported, once",
                 str(figures["findings"]))
        c.expect(figures["digest"].startswith("digest "), "the service answered every request",
                 figures["digest"])
    return c.finish()


if __name__ == "__main__":
    wgtest.main_guard(main)
