#!/usr/bin/env python3
"""Runs a program with and without the waitgraph shim and compares what it
printed (stdout, stderr) and its exit code.

  run_transparency.py --python PY --shim-dir DIR --program PROG [--unwritable]

With --unwritable the trace path cannot be created: the shim run must print
exactly one extra line on stderr (the warning) and otherwise match.
Otherwise the trace must exist, start with the magic and hold chunks."""

import argparse
import difflib
import os
import subprocess
import sys
import tempfile


def run(python, program, env, timeout):
    p = subprocess.run([python, program], env=env, capture_output=True, text=True,
                       timeout=timeout, cwd=os.path.dirname(program))
    return p.returncode, p.stdout, p.stderr


def diff(name, a, b):
    if a == b:
        return True
    sys.stdout.write("%s differs:\n" % name)
    sys.stdout.writelines(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                               "without shim", "with shim"))
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--shim-dir", required=True)
    ap.add_argument("--program", required=True)
    ap.add_argument("--unwritable", action="store_true")
    ap.add_argument("--timeout", type=float, default=50)
    args = ap.parse_args()

    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("WAITGRAPH_") and k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory(prefix="wg-transparency-") as tmp:
        base_env["TMPDIR"] = tmp
        base_env.pop("XDG_RUNTIME_DIR", None)
        if args.unwritable:
            trace = os.path.join(tmp, "no-such-dir", "t.wgtrace")
        else:
            trace = os.path.join(tmp, "t-%p.wgtrace")
        shim_env = dict(base_env, PYTHONPATH=args.shim_dir, WAITGRAPH_TRACE=trace)

        rc0, out0, err0 = run(args.python, args.program, base_env, args.timeout)
        rc1, out1, err1 = run(args.python, args.program, shim_env, args.timeout)

        ok = diff("stdout", out0, out1)
        if args.unwritable:
            expected = ("waitgraph: cannot write trace %s: No such file or directory; "
                        "running without the shim\n" % trace)
            ok &= diff("stderr", expected + err0, err1)
        else:
            ok &= diff("stderr", err0, err1)
            # The program's trace, and a forked child's own (issue 15).
            # The largest is the program's.
            with open(args.program) as f:
                expected_traces = 2 if "os.fork()" in f.read() else 1
            traces = sorted((f for f in os.listdir(tmp) if f.endswith(".wgtrace")),
                            key=lambda f: -os.path.getsize(os.path.join(tmp, f)))
            if len(traces) != expected_traces:
                print("expected %d trace(s) (the program's, a forked child's), got %s"
                      % (expected_traces, traces))
                ok = False
            else:
                with open(os.path.join(tmp, traces[0]), "rb") as f:
                    data = f.read()
                if not data.startswith(b"WGTRACE1") or len(data) < 1000:
                    print("trace too small or without magic: %d bytes" % len(data))
                    ok = False
                else:
                    print("trace: %d bytes" % len(data))
            live = os.path.join(tmp, "waitgraph-%d" % os.geteuid(), "live")
            if os.path.isdir(live) and os.listdir(live):
                print("pointer files left behind:", os.listdir(live))
                ok = False
        if rc0 != rc1:
            print("exit code differs: %d without, %d with the shim" % (rc0, rc1))
            ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
