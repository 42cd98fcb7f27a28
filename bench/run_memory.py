#!/usr/bin/env python3
"""How much memory `waitgraph run` itself keeps while it follows a busy
service's trace (issue 13 item 8).

Runs tests/safety/programs/pool_service.py (an asyncio server on 127.0.0.1
with a task, ContextVar sets and gets, a run_in_executor and a to_thread per
request) under `waitgraph run`, and reads /proc/<run pid>/status: VmRSS once
the warm-up requests are answered and again once all are (after `run` has
caught up with the trace: the program waits at both points), and VmHWM
just before the program exits. Prints the growth, per request, and the
report's findings; and what the analysis keeps in its tables at both
points (`run --model-stats`: counts of tasks, contexts, accesses, bound
objects... that must not grow with the requests). With --rss-every N, also
`run`'s VmRSS (and the largest tables) each time the service has answered
N more requests (read as the line comes: `run` may lag the service a bit).

usage: run_memory.py --waitgraph BIN [--python PY] [--requests N] [--lost-write]
                     [--warm N] [--rss-every N] [--json]
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


def has_model_stats(waitgraph):
    """Builds before `run --model-stats` (to compare with) are measured too."""
    help_text = subprocess.run([waitgraph, "run", "--help"], stdout=subprocess.PIPE).stdout
    return b"--model-stats" in help_text


def kept_counts(path):
    """The table sizes `run --model-stats` wrote last, summed over traces
    (one here), with the events applied; {} if not written yet."""
    if path is None:
        return {}
    try:
        with open(path) as f:
            stats = json.load(f)
    except (OSError, ValueError):
        return {}
    out = {"events": 0}
    for trace in stats.get("traces", []):
        out["events"] += trace.get("events", 0)
        for name, count in trace.get("kept", {}).items():
            out[name] = out.get(name, 0) + count
    return out


def largest(kept, n=4):
    tables = sorted(((count, name) for name, count in kept.items() if name != "events"
                     and not name.endswith("_bytes") and not name.startswith("contexts.forg")),
                    reverse=True)
    return " ".join("%s=%d" % (name, count) for count, name in tables[:n])


def read_line(proc, pid, stats, samples, started):
    """The service's next line other than a progress one; each progress
    line ("served K") adds a sample of `run`'s VmRSS and tables."""
    while True:
        line = proc.stdout.readline()
        if not line.startswith(b"served "):
            return line
        kept = kept_counts(stats)  # as of run's last catch-up (see settled_kept)
        samples.append({"served": int(line.split()[1]), "rss_kb": status_kb(pid)["VmRSS"],
                        "seconds": round(time.monotonic() - started, 1), "kept": kept})


def settled_kept(path, limit=900.0, idle=3.0):
    """The tables once `run` has caught up with the trace and the program
    has been idle `idle` seconds (the context model forgets the contexts
    that died over 1 s of trace before: ContextModel::kForgetLagNs). `run`
    rewrites the file every second, but only between two reads of the
    trace, which it reads to its end each time: while it lags the program
    the file is not rewritten. So: two rewrites made since the wait began,
    with the same events count."""
    if path is None:
        return {}
    started = time.time()
    deadline = started + limit
    last, last_mtime = None, 0.0
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            continue
        if mtime <= started or mtime == last_mtime:
            continue  # not rewritten since the wait began, or since the last look
        now = kept_counts(path)
        last_mtime = mtime
        if (last and now and now.get("events") == last.get("events")
                and time.time() - started >= idle):
            return now
        last = now
    raise RuntimeError("run --model-stats was not rewritten twice with the same events "
                       "within %d s (run far behind the program?)" % limit)


def measure(waitgraph, python, requests, lost_write=False, clients=8, warm=5000, tmp=None,
            rss_every=0):
    """Runs the service under `waitgraph run`; returns a dict of figures."""
    own_tmp = tmp is None
    tmp = tmp or tempfile.mkdtemp(prefix="wg-runmem-")
    report = os.path.join(tmp, "report.json")
    stats = os.path.join(tmp, "model-stats.json")
    argv = [waitgraph, "run", "--format", "json", "--report", report]
    if has_model_stats(waitgraph):
        argv += ["--model-stats", stats]
    else:
        stats = None
    argv += ["--trace", os.path.join(tmp, "service.wgtrace"), "--", python, PROGRAM, str(requests),
            "--clients", str(clients), "--warm", str(warm)]
    if lost_write:
        argv.append("--lost-write")
    if rss_every:
        argv += ["--progress", str(rss_every)]
    env = dict(os.environ)
    env.pop("WAITGRAPH_TRACE_MAX", None)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    figures = {"requests": requests, "warm": warm, "samples": []}
    try:
        started = time.monotonic()
        line = read_line(proc, proc.pid, stats, figures["samples"], started)
        if line.strip() != b"warm":
            raise RuntimeError("the service did not warm up: %r" % line)
        # The program waits: `run` catches up, then both are read.
        figures["warm_kept"] = settled_kept(stats)
        figures["warm_rss_kb"] = settled_status(proc.pid)["VmRSS"]
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        warm_at = time.monotonic()
        line = read_line(proc, proc.pid, stats, figures["samples"], started)
        if not line.startswith(b"done"):
            raise RuntimeError("the service did not finish: %r" % line)
        figures["requests_per_s"] = round((requests - warm) / max(0.001, time.monotonic() - warm_at))
        figures["end_kept"] = settled_kept(stats)
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
    ap.add_argument("--warm", type=int, default=5000)
    ap.add_argument("--rss-every", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    figures = measure(args.waitgraph, args.python, args.requests, args.lost_write, warm=args.warm,
                      rss_every=args.rss_every)
    if args.json:
        print(json.dumps(figures))
        return
    for sample in figures["samples"]:
        print("served %8d  %6.1f s  run VmRSS %7.1f MB  events %10d  %s"
              % (sample["served"], sample["seconds"], sample["rss_kb"] / 1024,
                 sample["kept"].get("events", 0), largest(sample["kept"])))
    print("requests            %d (%d req/s after the warm-up)" % (figures["requests"],
                                                                 figures["requests_per_s"]))
    print("run VmRSS warm      %.1f MB" % (figures["warm_rss_kb"] / 1024))
    print("run VmRSS end       %.1f MB" % (figures["end_rss_kb"] / 1024))
    print("run growth          %.1f MB (%d bytes/request)" % (figures["growth_kb"] / 1024,
                                                             figures["bytes_per_request"]))
    print("run VmHWM (+report) %.1f MB" % (figures["hwm_kb"] / 1024))
    print("findings            %s" % (", ".join(figures["findings"]) or "none"))
    print("kept (warm -> end), tables that changed:")
    warm_kept, end_kept = figures["warm_kept"], figures["end_kept"]
    for name in sorted(set(warm_kept) | set(end_kept)):
        if warm_kept.get(name) != end_kept.get(name):
            print("  %-40s %10d -> %10d" % (name, warm_kept.get(name, 0), end_kept.get(name, 0)))


if __name__ == "__main__":
    sys.exit(main())
