#!/usr/bin/env python3
"""Requests per second of uvicorn + Starlette hello-world under wrk on
loopback, side by side in one run: no shim, the waitgraph shim (every hook,
loop affinity included), the shim with its loop-affinity hooks off
(WAITGRAPH_LOOP_AFFINITY=0: their own share), and asyncio's own debug mode
(PYTHONASYNCIODEBUG=1). Besides requests/s (sensitive to other load on the
machine) it reports the server's CPU time per request (less so) and, where
`perf` is installed and allowed, the server's user-space instructions per
request (hardly at all: the steadiest figure on a busy machine).

Each round starts a fresh server per configuration on a free 127.0.0.1
port, warms it up, measures with wrk, and stops it (SIGTERM, so the shim
writes its trace to the end); configurations are interleaved round by round
so all see the same machine state. Reports the median of the rounds.
Not part of ctest: run by hand (needs wrk and Debian's python3-uvicorn,
python3-starlette).

usage: uvicorn_wrk.py [--waitgraph BIN] [--python PY] [--rounds N]
                      [--duration S] [--connections C] [--write FILE]
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONFIGS = ("no shim", "waitgraph shim", "shim without loop affinity", "PYTHONASYNCIODEBUG=1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def wrk(port, seconds, connections):
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds,
                          "http://127.0.0.1:%d/" % port],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m or not total:
        raise RuntimeError("cannot parse wrk output:\n" + out)
    return float(m.group(1)), int(total.group(1)), int(errors.group(1)) if errors else 0


def cpu_seconds(pid):
    """user+system CPU time of a process so far (Linux /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(config, args, shim, tmp, round_no):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WAITGRAPH_") and k not in ("PYTHONPATH", "PYTHONASYNCIODEBUG")}
    trace = None
    if config in ("waitgraph shim", "shim without loop affinity"):
        trace = os.path.join(tmp, "uvicorn-%d.wgtrace" % round_no)
        env.update(PYTHONPATH=shim, WAITGRAPH_TRACE=trace)
        if config == "shim without loop affinity":
            env["WAITGRAPH_LOOP_AFFINITY"] = "0"
    elif config == "PYTHONASYNCIODEBUG=1":
        env["PYTHONASYNCIODEBUG"] = "1"
    argv = [args.python, "-m", "uvicorn", "starlette_hello:app", "--host", "127.0.0.1",
            "--port", str(port), "--loop", "asyncio", "--http", "h11", "--log-level",
            "error", "--no-access-log"]
    proc = subprocess.Popen(argv, cwd=os.path.join(HERE, "workloads"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        wrk(port, 1, args.connections)  # warm-up
        perf = start_perf(proc.pid)
        cpu0 = cpu_seconds(proc.pid)
        rps, total, errors = wrk(port, args.duration, args.connections)
        cpu_us = (cpu_seconds(proc.pid) - cpu0) / max(total, 1) * 1e6
        instructions = stop_perf(perf)
        insn_per_req = instructions / max(total, 1) if instructions else 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    size = os.path.getsize(trace) if trace and os.path.exists(trace) else 0
    return rps, errors, size, cpu_us, insn_per_req


def start_perf(pid):
    """`perf stat -e instructions:u` attached to the server, or None."""
    if shutil.which("perf") is None:
        return None
    try:
        return subprocess.Popen(["perf", "stat", "-x,", "-e", "instructions:u", "-p", str(pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError:
        return None


def stop_perf(perf):
    if perf is None:
        return 0
    perf.send_signal(signal.SIGINT)
    try:
        _, err = perf.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        perf.kill()
        return 0
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
            return int(fields[0])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waitgraph", default=os.path.join(REPO, "build", "bin", "waitgraph"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5, help="seconds of wrk per measurement")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--write", metavar="FILE", help="also write the markdown report to FILE")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("uvicorn_wrk.py: wrk not found (apt-get install wrk)")
    shim = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)),
                                         "..", "lib", "waitgraph", "python"))
    if not os.path.isdir(shim):
        sys.exit("uvicorn_wrk.py: no shim at %s (build waitgraph first, or pass --waitgraph)" % shim)
    load = "%.2f %.2f %.2f" % os.getloadavg()
    results = {c: [] for c in CONFIGS}
    tmp = tempfile.mkdtemp(prefix="wg-uvicorn-")
    try:
        for r in range(args.rounds):
            order = CONFIGS if r % 2 == 0 else tuple(reversed(CONFIGS))
            for config in order:
                rps, errors, size, cpu_us, insn = one(config, args, shim, tmp, r)
                results[config].append((rps, errors, size, cpu_us, insn))
                print("round %d %-28s %8.0f req/s %7.1f us CPU/req %9.0f insn/req%s" % (
                      r + 1, config, rps, cpu_us, insn,
                      "  (%d errors)" % errors if errors else ""), file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = render(results, args, load)
    sys.stdout.write(report)
    if args.write:
        with open(args.write, "w") as f:
            f.write(report)


def render(results, args, load):
    base = statistics.median(r[0] for r in results["no shim"])
    base_cpu = statistics.median(r[3] for r in results["no shim"])
    base_insn = statistics.median(r[4] for r in results["no shim"])
    lines = [
        "## uvicorn + Starlette hello-world under wrk (loop affinity, issue 4)",
        "",
        "Median requests/s of %d interleaved rounds; each round a fresh `uvicorn --loop asyncio "
        "--http h11` server per configuration on a free 127.0.0.1 port, 1 s warm-up, then "
        "`wrk -t1 -c%d -d%ds`. The shim run records everything the shim records (all hooks, "
        "loop affinity included) to a trace." % (args.rounds, args.connections, args.duration),
        "",
        "| configuration | requests/s (median) | vs. no shim | CPU per request (median) | CPU vs. no shim | instructions per request (median) | instructions vs. no shim | requests/s, all rounds | trace size |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for config in CONFIGS:
        rows = results[config]
        med = statistics.median(r[0] for r in rows)
        sizes = [r[2] for r in rows if r[2]]
        cpu = statistics.median(r[3] for r in rows)
        insn = statistics.median(r[4] for r in rows)
        lines.append("| %s | %.0f | %.3f | %.1f us | %.3f | %s | %s | %s | %s |" % (
            config, med, med / base, cpu, cpu / base_cpu,
            "%.0f" % insn if insn else "-", "%.3f" % (insn / base_insn) if insn and base_insn else "-",
            ", ".join("%.0f" % r[0] for r in rows),
            ("%.1f KiB" % (statistics.median(sizes) / 1024)) if sizes else "-"))
    lines += [
        "",
        "Machine: %s, nproc %d, python %s, load average at start %s (wrk and the server share "
        "the cores). Date: %s." % (platform.platform(), os.cpu_count(), platform.python_version(),
                                   load, datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")),
        "",
        "Reproduce:",
        "",
        "```",
        "cmake -S . -B build && cmake --build build -j",
        "/usr/bin/python3 bench/uvicorn_wrk.py --waitgraph build/bin/waitgraph --rounds %d "
        "--duration %d" % (args.rounds, args.duration),
        "```",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
