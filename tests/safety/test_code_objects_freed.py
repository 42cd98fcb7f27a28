#!/usr/bin/env python3
"""Issue 13 item 8 (in part): the shim does not keep every code object it
has seen alive. A program makes and drops 20,000 functions, each recorded in
a stack; afterwards none of their code objects may be alive (the stack
walker held a strong reference to each, for the life of the trace), and the
trace must still name every frame.

usage: test_code_objects_freed.py --waitgraph BIN [--python PY]
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "code_churn.py")
COUNT = 20000


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("code_objects_freed")
    with wgtest.scratch_dir("wg-codes-") as tmp:
        trace = os.path.join(tmp, "codes.wgtrace")
        env = wgtest.env_without_waitgraph()
        env.pop("XDG_RUNTIME_DIR", None)
        env["TMPDIR"] = tmp
        env = wgtest.shim_env(args.waitgraph, trace, env, checker=c)
        r = wgtest.run([args.python, PROGRAM, str(COUNT)], limit=120, env=env)
        print(r.stderr.decode().strip())
        c.expect(r.returncode == 0 and r.stdout == b"code objects still alive: 0 of %d\n" % COUNT,
                 "no dropped code object is kept alive by the shim", r.describe())
        a = wgtest.run([args.waitgraph, "analyze", trace, "--format", "json"], limit=120)
        if c.expect(a.returncode == 0, "the trace is readable", a.describe()):
            data = json.loads(a.stdout)
            c.expect(data["traces"][0]["events"] >= 2 * COUNT and not data["notes"],
                     "every scope was recorded, no note", json.dumps(data)[:2000])
    return c.finish()


if __name__ == "__main__":
    wgtest.main_guard(main)
