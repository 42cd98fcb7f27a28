#!/usr/bin/env python3
"""Issue 13 item 9: `waitgraph live PID` for a process that is gone.

A traced process is SIGKILLed (so its live pointer stays behind). Then:
  - `waitgraph live PID` says the process is gone, names its last trace,
    exits 5 (it used to print a diagnosis as if it were running, exit 0),
    and removes the stale pointer;
  - a pointer of a dead process is removed when the next traced process
    starts;
  - `live` of a pid that never had a trace and does not exist exits 5 too.

usage: test_live_gone.py --waitgraph BIN [--python PY]
"""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "wait_forever.py")
EXIT_GONE = 5


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("live_gone")
    with wgtest.scratch_dir("wg-gone-") as tmp:
        check(args, tmp, c)
    return c.finish()


def killed_traced_process(args, env):
    proc = subprocess.Popen([args.python, PROGRAM], stdout=subprocess.PIPE, env=env)
    line = proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.pid, line == b"ready\n"


def check(args, tmp, c):
    env = wgtest.env_without_waitgraph()
    env.pop("XDG_RUNTIME_DIR", None)
    env["TMPDIR"] = tmp
    env = wgtest.shim_env(args.waitgraph, os.path.join(tmp, "t-%p.wgtrace"), env, checker=c)
    live_dir = os.path.join(tmp, "waitgraph-%d" % os.geteuid(), "live")

    pid, ready = killed_traced_process(args, env)
    pointer = os.path.join(live_dir, str(pid))
    c.expect(ready and os.path.exists(pointer), "a SIGKILLed process leaves its pointer %s" % pointer)
    r = wgtest.run([args.waitgraph, "live", str(pid)], limit=30, env=env)
    text = r.stderr.decode()
    c.expect(r.returncode == EXIT_GONE and "gone" in text and "t-%d.wgtrace" % pid in text,
             "`live PID` of the dead process says it is gone, names its trace, exits %d" % EXIT_GONE,
             r.describe())
    c.expect(not r.stdout, "and prints no diagnosis", r.describe())
    c.expect(not os.path.exists(pointer), "the stale pointer was removed")

    pid, _ = killed_traced_process(args, env)
    pointer = os.path.join(live_dir, str(pid))
    c.expect(os.path.exists(pointer), "another stale pointer")
    ok = wgtest.run([args.python, "-c", "print('hi')"], limit=30, env=env)
    c.expect(ok.returncode == 0 and ok.stdout == b"hi\n", "the next traced process runs", ok.describe())
    c.expect(not os.path.exists(pointer), "starting it removed the stale pointer of the dead process",
             str(os.listdir(live_dir)))

    r = wgtest.run([args.waitgraph, "live", str(pid)], limit=30, env=env)
    c.expect(r.returncode == EXIT_GONE and "does not exist" in r.stderr.decode(),
             "`live` of a pid with neither process nor pointer exits %d" % EXIT_GONE, r.describe())


if __name__ == "__main__":
    wgtest.main_guard(main)
