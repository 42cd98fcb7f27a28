#!/usr/bin/env python3
"""loop-stall on a real uvicorn server: the duration the finding reports is
within 10% of how long report() really blocked (the program measures it
around its time.sleep), the finding points at the time.sleep line, and
WAITGRAPH_STALL_ERROR_MS turns it into an error when analysing.

usage: test_loop_stall.py --waitgraph BIN [--python PY]
"""
import argparse
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest  # noqa: E402

CASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "cases",
                    "uvicorn_blocking_endpoint")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--python", default=wgtest.DEFAULT_PYTHON)
    args = ap.parse_args()
    c = wgtest.Checker("loop-stall on uvicorn")
    tmp = tempfile.mkdtemp(prefix="wg-loop-stall-")
    try:
        check(args, os.path.abspath(CASE), tmp, c)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return c.finish()


def check(args, case, tmp, c):
    trace = os.path.join(tmp, "trace.wgtrace")
    report_path = os.path.join(tmp, "report.json")
    r = wgtest.run([args.waitgraph, "run", "--trace", trace, "--format", "json", "--report",
                    report_path, "--", args.python, os.path.join(case, "program.py")],
                   limit=60, cwd=case)
    print(r.describe())
    if not c.expect(r.returncode == 0 and not r.timed_out, "`waitgraph run` exits 0"):
        return
    out = r.stdout.decode()
    ping = re.search(r"ping answered pong after (\d+) ms", out)
    real = re.search(r"report\(\) blocked for ([0-9.]+) s", out)
    if not c.expect(ping and real, "the program prints the /ping latency and how long it blocked", out):
        return
    print("/ping latency while the loop was blocked: %s ms" % ping.group(1))
    real_s = float(real.group(1))

    with open(report_path, "rb") as f:
        report = wgtest.load_json(f.read(), "run --report", c)
    findings = wgtest.findings_of(report, "run report", c) if report else None
    if findings is None:
        return
    # Notes are stalls that are the runtime's (an import that a loaded
    # machine stretches past the threshold at start-up): not the one here.
    stalls = [f for f in findings if f.get("name") == "loop-stall" and f.get("severity") != "note"]
    if not c.expect(len(stalls) == 1, "exactly one loop-stall warning or error", wgtest.summarize(findings)):
        return
    f = stalls[0]
    m = re.search(r"was blocked for ([0-9.]+) s", f["message"])
    if c.expect(m, "the message says how long the loop was blocked", f["message"]):
        got = float(m.group(1))
        c.expect(abs(got - real_s) <= 0.10 * real_s,
                 "reported %.3f s is within 10%% of the real %.3f s" % (got, real_s))
    c.expect("time.sleep called from report() at" in f["message"] and "in slow() at" in f["message"],
             "names time.sleep, report() and the endpoint slow()", f["message"])
    loc = (f.get("locations") or [{}])[0] if "locations" in f else f.get("location", {})
    where = "%s:%s" % (os.path.basename(loc.get("path", "")), loc.get("line"))
    c.expect(where == "program.py:22", "points at the time.sleep line (program.py:22)", where)

    # The error threshold is the analyser's: the same trace, a lower threshold.
    env = dict(os.environ, WAITGRAPH_STALL_ERROR_MS="300")
    a = wgtest.run([args.waitgraph, "analyze", trace, "--format", "json"], limit=60, env=env)
    analysed = wgtest.load_json(a.stdout, "analyze output", c)
    sev = [x.get("severity") for x in (analysed or {}).get("findings", []) if x.get("name") == "loop-stall"]
    c.expect(sev == ["error"], "WAITGRAPH_STALL_ERROR_MS=300 makes the 0.5 s stall an error", str(sev))


if __name__ == "__main__":
    wgtest.main_guard(main)
