#!/usr/bin/env python3
"""Issue 13 item 7: signals sent to `waitgraph run` (its pid alone) reach
the program, and a program killed by a signal makes `run` die of the same
signal, after the report.

For each forwardable signal:
  - the program catches it: it must get it (it used to be ignored, or to
    kill `run` and orphan the program), `run` exits with the program's 0;
  - the program keeps the default (it dies of the signals that kill): `run`
    prints its report, then dies of the same signal (returncode -N), and
    no program process is left behind.

usage: test_signals.py --waitgraph BIN [--python PY]
"""
import os
import re
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "signal_target.py")
SIGNALS = ["SIGINT", "SIGQUIT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGWINCH"]
# Signals whose default action does not end a process.
HARMLESS = {"SIGWINCH"}
LIMIT = 20.0


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("signals")
    with wgtest.scratch_dir("wg-signals-") as tmp:
        for name in SIGNALS:
            caught(args, tmp, name, c)
            if name not in HARMLESS:
                default_action(args, tmp, name, c)
    return c.finish()


def start(args, tmp, *program_args):
    env = wgtest.env_without_waitgraph()
    env.pop("XDG_RUNTIME_DIR", None)
    env["TMPDIR"] = tmp
    return subprocess.Popen([args.waitgraph, "run", "--", args.python, PROGRAM, *program_args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True, preexec_fn=no_core_files)


def no_core_files():
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGQUIT dumps core by default


def wait_ready(proc):
    ready, _, _ = select.select([proc.stdout], [], [], LIMIT)
    return bool(ready) and proc.stdout.readline() == b"ready\n"


def finish(proc):
    try:
        out, err = proc.communicate(timeout=LIMIT)
        return out, err, False
    except subprocess.TimeoutExpired:
        wgtest.kill_group(proc)
        out, err = proc.communicate()
        return out, err, True


def program_pids(tmp):
    """Pids of programs of these tests still running (from /proc)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                if PROGRAM.encode() in f.read():
                    pids.append(int(name))
        except OSError:
            continue
    return pids


def caught(args, tmp, name, c):
    proc = start(args, tmp, "catch", name)
    try:
        if not c.expect(wait_ready(proc), "%s: program ready" % name):
            return
        time.sleep(0.3)  # the shim is up, the handlers are set
        os.kill(proc.pid, getattr(signal, name))  # to `run` alone
        out, err, timed_out = finish(proc)
        c.expect(not timed_out and out == b"got %s\n" % name.encode() and proc.returncode == 0,
                 "%s sent to run reaches the program (caught), run exits 0" % name,
                 "exit %s, timed out %s\nstdout %r\nstderr %s" % (proc.returncode, timed_out, out, err.decode()))
    finally:
        if proc.poll() is None:
            wgtest.kill_group(proc)
            proc.wait()


def default_action(args, tmp, name, c):
    proc = start(args, tmp, "default")
    try:
        if not c.expect(wait_ready(proc), "%s: program ready" % name):
            return
        time.sleep(0.3)
        sig = getattr(signal, name)
        os.kill(proc.pid, sig)
        out, err, timed_out = finish(proc)
        c.expect(not timed_out and proc.returncode == -sig,
                 "%s kills the program: run dies of %s too (returncode %s)" % (name, name, proc.returncode),
                 err.decode())
        c.expect(re.search(rb"waitgraph: \d+ errors?, ", err) is not None,
                 "%s: the report was printed first" % name,
                 err.decode())
        c.expect(not program_pids(tmp), "%s: no program left running" % name)
    finally:
        if proc.poll() is None:
            wgtest.kill_group(proc)
            proc.wait()


if __name__ == "__main__":
    wgtest.main_guard(main)
