#!/usr/bin/env python3
"""Issue 13 item 8 (in part) and item 1 of its rest: the shim does not keep
the name of every thread it ever saw, with or without the flight recorder.
A program starts and joins 16,000 threads, each with a new 4 KB name (64 MB
of names in all); the shim's intern tables forget what they hold past 8 MB,
and the flight recorder forgets with them (instrument/native/flight_ring.h),
so the process may grow by at most 32 MB after its warm-up, and the trace
must still name the last thread and define every id it uses:

- with the flight recorder as the environment-variable mode starts it by
  default (WAITGRAPH_TRACE_MAX unset: a 256M ring);
- with a 1M ring, which wraps hundreds of times while the intern tables
  forget (definitions read back from dropped chunks, the last two intern
  epochs kept);
- with an unbounded trace (WAITGRAPH_TRACE_MAX=0).

usage: test_thread_names_bounded.py --waitgraph BIN [--python PY]
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "thread_name_churn.py")
COUNT = 16000
NAME_BYTES = 4096
BOUND_MB = 32
RINGS = [("the default flight recorder", None), ("a 1M flight recorder", "1M"), ("an unbounded trace", "0")]


def check_trace(args, trace, c, label):
    # Chunks are compressed: read the trace through the decoder.
    dump_tool = os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)), "..", "tests", "wg_trace_dump")
    dump = wgtest.run([dump_tool, trace], limit=60)
    header = dump.stdout.split(b"\n", 1)[0]
    c.expect(b" ok=1 " in header and header.endswith(b" undefined=0"),
             "%s: the trace is whole and defines every id it uses" % label, dump.describe()[:4000])
    c.expect(("conn-%d-" % (COUNT - 1)).encode() in dump.stdout, "%s: the trace names the last thread" % label,
             dump.describe()[:4000])


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("thread_names_bounded")
    with wgtest.scratch_dir("wg-names-") as tmp:
        for n, (label, trace_max) in enumerate(RINGS):
            trace = os.path.join(tmp, "names-%d.wgtrace" % n)
            env = wgtest.env_without_waitgraph()
            env.pop("XDG_RUNTIME_DIR", None)
            env.pop("WAITGRAPH_TRACE_MAX", None)
            env["TMPDIR"] = tmp
            if trace_max is not None:
                env["WAITGRAPH_TRACE_MAX"] = trace_max
            env = wgtest.shim_env(args.waitgraph, trace, env, checker=c)
            r = wgtest.run([args.python, PROGRAM, str(COUNT), str(NAME_BYTES)], limit=180, env=env)
            m = re.match(rb"rss growth MB: (-?\d+)\n$", r.stdout)
            if c.expect(r.returncode == 0 and m is not None, "%s: the program ran" % label, r.describe()):
                growth = int(m.group(1))
                print("growth under the shim, %s: %d MB (bound %d MB)" % (label, growth, BOUND_MB))
                c.expect(growth <= BOUND_MB, "%s: memory levels off: grew %d MB <= %d MB"
                         % (label, growth, BOUND_MB), r.describe())
            check_trace(args, trace, c, label)
    return c.finish()


if __name__ == "__main__":
    wgtest.main_guard(main)
