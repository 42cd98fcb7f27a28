#!/usr/bin/env python3
"""Issue 13 item 4: the trace's storage never blocks the program.

  1. The trace path is a FIFO nobody reads: the program starts at once,
     says in one line that it runs without the shim, and its output and
     status are unchanged.
  2. A reader opens the FIFO and then stops reading: the writer blocks on
     a full pipe, the program still finishes and exits (the final flush is
     given up after WAITGRAPH_STORAGE_TIMEOUT_MS, with one warning).

usage: test_stuck_storage.py --waitgraph BIN [--python PY]
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "chatty.py")
TIMEOUT_MS = 500
LIMIT = 30.0


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("stuck_storage")
    with wgtest.scratch_dir("wg-stuck-") as tmp:
        fifo_without_reader(args, tmp, c)
        reader_that_stops(args, tmp, c)
    return c.finish()


def env_for(args, tmp, trace, c):
    base = wgtest.env_without_waitgraph()
    base.pop("XDG_RUNTIME_DIR", None)
    base["TMPDIR"] = tmp
    return base, wgtest.shim_env(args.waitgraph, trace, dict(base, WAITGRAPH_STORAGE_TIMEOUT_MS=str(TIMEOUT_MS)),
                                 checker=c)


def fifo_without_reader(args, tmp, c):
    print("== a FIFO trace path that nobody reads")
    fifo = os.path.join(tmp, "nobody-reads.wgtrace")
    os.mkfifo(fifo, 0o600)
    base, env = env_for(args, tmp, fifo, c)
    plain = wgtest.run([args.python, PROGRAM, "50"], limit=LIMIT, env=base)
    r = wgtest.run([args.python, PROGRAM, "50"], limit=LIMIT, env=env)
    c.expect(not r.timed_out and r.elapsed < plain.elapsed + 5, "the program is not held up (%.1f s vs %.1f s)"
             % (r.elapsed, plain.elapsed), r.describe())
    c.expect((r.returncode, r.stdout) == (plain.returncode, plain.stdout), "same output and status", r.describe())
    lines = r.stderr.decode().splitlines()
    c.expect(len(lines) == 1 and "running without the shim" in lines[0] and fifo in lines[0],
             "one line says it runs without the shim", r.describe())


def reader_that_stops(args, tmp, c):
    print("== a FIFO reader that stops reading")
    fifo = os.path.join(tmp, "stalled-reader.wgtrace")
    os.mkfifo(fifo, 0o600)
    # The reader opens the FIFO and never reads from it.
    reader = subprocess.Popen([sys.executable, "-c", "import os, sys, time; "
                               "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK); "
                               "print('open', flush=True); time.sleep(60)", fifo],
                              stdout=subprocess.PIPE)
    try:
        c.expect(reader.stdout.readline() == b"open\n", "the reader has the FIFO open")
        base, env = env_for(args, tmp, fifo, c)
        r = wgtest.run([args.python, PROGRAM, "3000"], limit=LIMIT, env=env)
        c.expect(not r.timed_out and r.returncode == 0 and r.stdout.startswith(b"done"),
                 "the program finishes and exits although its trace cannot be written", r.describe())
        warnings = [l for l in r.stderr.decode().splitlines() if l.startswith("waitgraph:")]
        c.expect(len(warnings) == 1, "with one warning", r.describe())
    finally:
        reader.kill()
        reader.wait()


if __name__ == "__main__":
    wgtest.main_guard(main)
