#!/usr/bin/env python3
"""Cost of `waitgraph attach`: how long a snapshot takes, and how long the
target is held up, on a process with 200 threads and 10,000 asyncio tasks.

The target (started WITHOUT the shim) has 200 threads blocked in
Event.wait, an asyncio loop with 10,000 tasks awaiting an Event, and a
ticker thread that wakes every millisecond and records the longest gap
between its ticks. `attach` never stops the target (no ptrace, only
process_vm_readv), so the ticker's longest gap while attach runs, against
the same without attach, shows any pause.

usage: bench/attach_snapshot.py --waitgraph build/bin/waitgraph [--runs 20]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

TARGET = textwrap.dedent('''
    import asyncio, sys, threading, time
    gap_file = sys.argv[1]
    stop = threading.Event()
    for i in range(200):
        threading.Thread(target=stop.wait, name="parked-%d" % i, daemon=True).start()

    def ticker():
        window, worst, last = time.monotonic(), 0.0, time.monotonic()
        while True:
            time.sleep(0.001)
            now = time.monotonic()
            worst = max(worst, now - last)
            last = now
            if now - window >= 0.25:
                with open(gap_file, "a") as f:
                    f.write("%f %f\\n" % (now, worst))
                window, worst = now, 0.0

    threading.Thread(target=ticker, name="ticker", daemon=True).start()

    async def main():
        gate = asyncio.Event()
        tasks = [asyncio.create_task(gate.wait()) for _ in range(10000)]
        await asyncio.sleep(0.2)
        print("ready", flush=True)
        await gate.wait()

    asyncio.run(main())
''')


def worst_gap(gap_file, since, until):
    worst = 0.0
    with open(gap_file) as f:
        for line in f:
            t, gap = map(float, line.split())
            if since <= t <= until:
                worst = max(worst, gap)
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="wg-attach-bench-")
    script, gaps = os.path.join(tmp, "target.py"), os.path.join(tmp, "gaps.txt")
    with open(script, "w") as f:
        f.write(TARGET)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAITGRAPH_")}
    target = subprocess.Popen([args.python, script, gaps], stdout=subprocess.PIPE, env=env)
    try:
        assert target.stdout.readline().strip() == b"ready"
        time.sleep(1.0)
        quiet_from = time.monotonic()
        time.sleep(args.runs * 0.1)
        quiet_to = time.monotonic()
        walls, reads = [], []
        busy_from = time.monotonic()
        for _ in range(args.runs):
            start = time.monotonic()
            out = subprocess.run([args.waitgraph, "attach", str(target.pid)], capture_output=True).stdout
            walls.append(time.monotonic() - start)
            m = re.search(rb"(\d+) thread\(s\), read in ([\d.]+) ms", out)
            reads.append(float(m.group(2)) / 1000)
            threads = int(m.group(1))
        busy_to = time.monotonic()
        time.sleep(0.3)
        print("target: %d Python threads, 10,000 asyncio tasks; %d attaches" % (threads, args.runs))
        print("snapshot read (threads, stacks, blocking calls): median %.1f ms, max %.1f ms" %
              (statistics.median(reads) * 1000, max(reads) * 1000))
        print("whole `waitgraph attach` (read + analysis + report): median %.1f ms, max %.1f ms" %
              (statistics.median(walls) * 1000, max(walls) * 1000))
        print("target's longest 1 ms-ticker gap: %.1f ms while attached, %.1f ms without (no pause)" %
              (worst_gap(gaps, busy_from, busy_to) * 1000, worst_gap(gaps, quiet_from, quiet_to) * 1000))
    finally:
        target.kill()
        target.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
