#!/usr/bin/env python3
"""Issue 13 item 5 (in part): `check`/`analyze` read the source files a
trace names (for `# waitgraph: ignore` comments); a hostile trace, or a
checkout where those paths are now something else, must not hang or
exhaust the CLI.

A real program with a finding is recorded. Suppression comments added to
its source then hide the finding, but only while the source is under the
source root (--source-root, default the current directory). Then its source
path is replaced by a FIFO nobody writes (opening it would block forever),
then by a symlink to /dev/zero (reading it would never end). `check` must
finish quickly each time and still report the finding.

usage: test_hostile_sources.py --waitgraph BIN [--python PY]
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

CASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "cases",
                    "ctx_run_in_executor_no_copy", "program.py")
FINDING = "context-not-propagated"
LIMIT = 30.0


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("hostile_sources")
    with wgtest.scratch_dir("wg-hostile-") as tmp:
        check(args, tmp, c)
    return c.finish()


def check(args, tmp, c):
    program = os.path.join(tmp, "program.py")
    shutil.copy(CASE, program)
    trace = os.path.join(tmp, "t.wgtrace")
    env = wgtest.env_without_waitgraph()
    env.pop("XDG_RUNTIME_DIR", None)
    env["TMPDIR"] = tmp
    r = wgtest.run([args.waitgraph, "run", "--trace", trace, "--", args.python, program], limit=LIMIT,
                   env=env, cwd=tmp)
    if not c.expect(r.returncode == 0 and os.path.exists(trace), "the program was recorded", r.describe()):
        return
    with open(program) as f:
        lines = f.read().splitlines()
    with open(program, "w") as f:  # same line numbers, each with a suppression
        f.write("".join(line + "  # waitgraph: ignore\n" for line in lines))
    k = wgtest.run([args.waitgraph, "check", trace, "--format", "json"], limit=LIMIT, env=env, cwd=tmp)
    c.expect(k.returncode == 0 and not json.loads(k.stdout or b"{}").get("findings"),
             "a suppression comment in a source under the source root hides the finding", k.describe())
    elsewhere = os.path.join(tmp, "elsewhere")
    os.mkdir(elsewhere)
    k = wgtest.run([args.waitgraph, "check", trace, "--format", "json", "--source-root", elsewhere],
                   limit=LIMIT, env=env, cwd=tmp)
    c.expect(k.returncode == 1, "a source outside --source-root is not read: the finding stays", k.describe())
    for what, plant in (("a FIFO", lambda: os.mkfifo(program)),
                        ("a symlink to /dev/zero", lambda: os.symlink("/dev/zero", program))):
        os.unlink(program)
        plant()
        k = wgtest.run([args.waitgraph, "check", trace, "--format", "json"], limit=LIMIT, env=env, cwd=tmp)
        c.expect(not k.timed_out and k.returncode == 1, "source path replaced by %s: `check` finishes (exit 1)" % what,
                 k.describe())
        if k.returncode == 1:
            names = [f["name"] for f in json.loads(k.stdout)["findings"]]
            c.expect(FINDING in names, "and still reports %s" % FINDING, str(names))


if __name__ == "__main__":
    wgtest.main_guard(main)
