#!/usr/bin/env python3
"""Issue 13 item 1: a forked child that exits normally must not hang.

With the shim on (and its stall watchdog waiting on a condition variable),
os.fork() then sys.exit(0) in the child used to hang forever in
pthread_cond_destroy at exit. Each mode of programs/fork_then_exit.py must
finish, print the same as without the shim and exit 0, well within a
wall-clock limit.

usage: test_fork_exit.py --waitgraph BIN [--python PY]
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "fork_then_exit.py")
LIMIT = 20.0


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("fork_exit")
    with wgtest.scratch_dir("wg-fork-") as tmp:
        for mode in ("plain", "threads", "loop", "falloff"):
            for stall_ms in ("100", "0"):  # watchdog on (default) and off
                check(args, tmp, mode, stall_ms, c)
    return c.finish()


def check(args, tmp, mode, stall_ms, c):
    what = "fork then exit (%s, WAITGRAPH_STALL_MS=%s)" % (mode, stall_ms)
    base = wgtest.env_without_waitgraph()
    base.update(TMPDIR=tmp, WAITGRAPH_STALL_MS=stall_ms)
    base.pop("XDG_RUNTIME_DIR", None)
    plain = wgtest.run([args.python, PROGRAM, mode], limit=LIMIT, env=base)
    env = wgtest.shim_env(args.waitgraph, os.path.join(tmp, "fork-%p.wgtrace"), base, checker=c)
    shim = wgtest.run([args.python, PROGRAM, mode], limit=LIMIT, env=env)
    c.expect(not shim.timed_out and shim.returncode == 0,
             "%s: finishes with exit 0 under the shim" % what, shim.describe())
    c.expect((shim.stdout, shim.stderr, shim.returncode) == (plain.stdout, plain.stderr, plain.returncode),
             "%s: same output and status as without the shim" % what,
             "without:\n%s\nwith:\n%s" % (plain.describe(), shim.describe()))


if __name__ == "__main__":
    wgtest.main_guard(main)
