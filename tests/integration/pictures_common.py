"""Shared by the picture tests: records testdata/pictures/handoff_deadlock.py
under the real shim (`waitgraph run` stops it once the deadlock holds)."""
import os

import wgtest

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "pictures",
                       "handoff_deadlock.py")
EXIT_HANG = 3


def line_of(text, path=PROGRAM):
    """The line number of the first line of `path` that contains `text`."""
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if text in line:
                return number
    raise ValueError("%r not in %s" % (text, path))


def record(args, tmp, c):
    """The trace of the program, or None (after a failure) if it was not written."""
    trace = os.path.join(tmp, "handoff.wgtrace")
    r = wgtest.run([args.waitgraph, "run", "--hang-timeout", "1", "--trace", trace, "--", args.python,
                    PROGRAM], limit=60, env=wgtest.env_without_waitgraph(), cwd=tmp)
    ok = c.expect(r.returncode == EXIT_HANG and os.path.exists(trace),
                  "the program deadlocks and `waitgraph run` stops it (exit 3), keeping its trace",
                  r.describe())
    return trace if ok else None


def analyze_json(args, trace, tmp, c):
    r = wgtest.run([args.waitgraph, "analyze", trace, "--format", "json"], limit=60, cwd=tmp)
    report = wgtest.load_json(r.stdout, "analyze --format json", c)
    return report["findings"] if report else []
