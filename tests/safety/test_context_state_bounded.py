#!/usr/bin/env python3
"""Issue 13 item 8: the shim's per-context state levels off in a server
making a context per request. programs/context_churn.py serves 120,000
request-like asyncio tasks (a context each, plus a copy_context().run per
request, ContextVar sets, resets and gets) and prints how much VmRSS and
VmHWM grew after a warm-up. The state of a dead context is forgotten when
it dies (instrument/native/context_hooks.cc), so under the shim (with its
default flight recorder) the growth stays under a small bound (it kept
every context's state up to a 1M-entry table before: 66 MB here), and the
program's output is the same as without the shim.

usage: test_context_state_bounded.py --waitgraph BIN [--python PY]
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "context_churn.py")
REQUESTS = 120000
# Measured 4-6 MB when dead contexts' state was dropped from a weak
# reference's callback; 7-15 MB since object ids release dead entries lazily
# (a few per new id, the rest at a sweep when the id map doubles), which
# keeps some dead contexts' state a while longer, and the HWM also holds the
# writer's backlog on a loaded machine. Still bounded: 66 MB before the fix.
BOUND_MB = 24


def growth(result, c, label):
    m = re.match(rb"rss growth KB: (-?\d+)\nhwm growth KB: (-?\d+)\ndigest: (\d+)\n$", result.stdout)
    if not c.expect(result.returncode == 0 and m is not None, "%s: the program ran" % label,
                    result.describe()):
        return None
    rss, hwm = int(m.group(1)) // 1024, int(m.group(2)) // 1024
    print("%s: VmRSS grew %d MB, VmHWM grew %d MB" % (label, rss, hwm))
    return rss, hwm, m.group(3)


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("context_state_bounded")
    with wgtest.scratch_dir("wg-contexts-") as tmp:
        plain_env = wgtest.env_without_waitgraph()
        plain = growth(wgtest.run([args.python, PROGRAM, str(REQUESTS)], limit=120, env=plain_env), c,
                       "without the shim")
        env = dict(plain_env, TMPDIR=tmp)
        env.pop("XDG_RUNTIME_DIR", None)
        env.pop("WAITGRAPH_TRACE_MAX", None)  # the default flight recorder
        env = wgtest.shim_env(args.waitgraph, os.path.join(tmp, "contexts.wgtrace"), env, checker=c)
        shim = growth(wgtest.run([args.python, PROGRAM, str(REQUESTS)], limit=180, env=env), c,
                      "under the shim")
        if plain and shim:
            c.expect(shim[2] == plain[2], "the requests return the same under the shim",
                     "digest %s vs %s" % (shim[2], plain[2]))
            for name, value in (("VmRSS", shim[0]), ("VmHWM", shim[1])):
                c.expect(value <= BOUND_MB, "%s levels off under the shim: grew %d MB <= %d MB"
                         % (name, value, BOUND_MB))
        dump_tool = os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)), "..", "tests",
                                 "wg_trace_dump")
        dump = wgtest.run([dump_tool, os.path.join(tmp, "contexts.wgtrace")], limit=120)
        c.expect(dump.returncode == 0 and dump.stdout.count(b"CONTEXT_VAR_SET") >= REQUESTS,
                 "the trace holds a recorded set per request", dump.describe()[:3000])
    return c.finish()


if __name__ == "__main__":
    wgtest.main_guard(main)
