#!/usr/bin/env python3
"""How much memory `waitgraph run` itself keeps while it follows a busy
service's trace (issue 13 item 8).

Runs tests/safety/programs/pool_service.py (an asyncio server on 127.0.0.1
with a task, ContextVar sets and gets, a run_in_executor and a to_thread per
request) under `waitgraph run`, and reads /proc/<run pid>/status: VmRSS once
the warm-up requests are answered and again once all are (after `run` has
caught up with the trace: the program waits at both points), and VmHWM
just before the program exits. Prints
the growth, per request, and the report's findings.

usage: run_memory.py --waitgraph BIN [--python PY] [--requests N] [--lost-write]
                     [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, "..", "tests", "safety", "programs", "pool_service.py")


def status_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def settled_status(pid, limit=60.0):
    """VmRSS once `run` has caught up: unchanged (within 256 KB) for 1 s."""
    deadline = time.monotonic() + limit
    last = status_kb(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = status_kb(pid)
        if abs(now["VmRSS"] - last["VmRSS"]) <= 256:
            return now
        last = now
    return last


def measure(waitgraph, python, requests, lost_write=False, clients=8, warm=5000, tmp=None):
    """Runs the service under `waitgraph run`; returns a dict of figures."""
    own_tmp = tmp is None
    tmp = tmp or tempfile.mkdtemp(prefix="wg-runmem-")
    report = os.path.join(tmp, "report.json")
    argv = [waitgraph, "run", "--format", "json", "--report", report, "--trace",
            os.path.join(tmp, "service.wgtrace"), "--", python, PROGRAM, str(requests),
            "--clients", str(clients), "--warm", str(warm)]
    if lost_write:
        argv.append("--lost-write")
    env = dict(os.environ)
    env.pop("WAITGRAPH_TRACE_MAX", None)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    figures = {"requests": requests}
    try:
        started = time.monotonic()
        line = proc.stdout.readline()
        if line.strip() != b"warm":
            raise RuntimeError("the service did not warm up: %r" % line)
        figures["warm_rss_kb"] = settled_status(proc.pid)["VmRSS"]  # the program waits
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        warm_at = time.monotonic()
        line = proc.stdout.readline()
        if not line.startswith(b"done"):
            raise RuntimeError("the service did not finish: %r" % line)
        figures["requests_per_s"] = round((requests - warm) / max(0.001, time.monotonic() - warm_at))
        end = settled_status(proc.pid)
        figures["end_rss_kb"] = end["VmRSS"]
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        # The end-of-run analysis happens after the program exits: sample
        # the high-water mark until `run` is gone.
        hwm = end["VmHWM"]
        while proc.poll() is None:
            try:
                hwm = max(hwm, status_kb(proc.pid)["VmHWM"])
            except (OSError, KeyError):
                break
            time.sleep(0.05)
        out, _ = proc.communicate(timeout=300)
        figures["hwm_kb"] = hwm
        figures["seconds"] = round(time.monotonic() - started, 1)
        figures["digest"] = out.decode().strip()
        figures["exit"] = proc.returncode
        figures["growth_kb"] = figures["end_rss_kb"] - figures["warm_rss_kb"]
        figures["bytes_per_request"] = round(figures["growth_kb"] * 1024 / max(1, requests - warm))
        with open(report) as f:
            figures["findings"] = sorted(x.get("name", "?") for x in json.load(f).get("findings", []))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if own_tmp:
            subprocess.run(["rm", "-rf", tmp])
    return figures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--lost-write", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    figures = measure(args.waitgraph, args.python, args.requests, args.lost_write)
    if args.json:
        print(json.dumps(figures))
        return
    print("requests            %d (%d req/s after the warm-up)" % (figures["requests"],
                                                                 figures["requests_per_s"]))
    print("run VmRSS warm      %.1f MB" % (figures["warm_rss_kb"] / 1024))
    print("run VmRSS end       %.1f MB" % (figures["end_rss_kb"] / 1024))
    print("run growth          %.1f MB (%d bytes/request)" % (figures["growth_kb"] / 1024,
                                                             figures["bytes_per_request"]))
    print("run VmHWM (+report) %.1f MB" % (figures["hwm_kb"] / 1024))
    print("findings            %s" % (", ".join(figures["findings"]) or "none"))


if __name__ == "__main__":
    sys.exit(main())
