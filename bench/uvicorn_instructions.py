#!/usr/bin/env python3
"""Instructions per request of uvicorn + Starlette, without and with the
shim: the steady counterpart of uvicorn_wrk.py's requests/s on a shared
machine.

The server (`uvicorn --loop asyncio --http h11`, bench/workloads/
starlette_hello.py) runs under valgrind's callgrind; a client on the same
machine sends N keep-alive requests, one at a time, then the server
is stopped with SIGTERM (the shim writes its trace to the end). Two runs
per configuration, with N1 and N2 requests: (instructions(N2) -
instructions(N1)) / (N2 - N1) is the cost of one request, start-up and
shutdown taken out. The shim's time thresholds are scaled by valgrind's
slowdown, as in shim_instructions.py.

usage: uvicorn_instructions.py [--waitgraph BIN] [--python PY] [--requests N1 N2]
needs: valgrind, Debian's python3-uvicorn and python3-starlette
"""
import argparse
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SLOWDOWN = 50
CONNECTIONS = 1  # one request at a time: no batching that depends on timing


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, deadline):
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/")
            c.getresponse().read()
            c.close()
            return True
        except OSError:
            time.sleep(0.5)
    return False


def client(port, count):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(count):
        c.request("GET", "/")
        if c.getresponse().read() != b"Hello, world!":
            raise RuntimeError("unexpected response")
    c.close()


def serve(python, env, requests, tmp):
    port = free_port()
    out = os.path.join(tmp, "callgrind.out")
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, python, "-m", "uvicorn",
            "starlette_hello:app", "--host", "127.0.0.1", "--port", str(port), "--loop", "asyncio",
            "--http", "h11", "--log-level", "warning"]
    proc = subprocess.Popen(argv, cwd=os.path.join(HERE, "workloads"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if not wait_ready(port, time.time() + 300):
            sys.exit("uvicorn_instructions.py: the server did not start")
        threads = [threading.Thread(target=client, args=(port, requests // CONNECTIONS))
                   for _ in range(CONNECTIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=600)
    m = re.search(r"Collected : (\d+)", err)
    if not m:
        sys.exit("uvicorn_instructions.py: no instruction count:\n" + err[-2000:])
    os.unlink(out)
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waitgraph", default=os.path.join(REPO, "build", "bin", "waitgraph"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--requests", type=int, nargs=2, default=[300, 1300], metavar=("N1", "N2"))
    args = ap.parse_args()
    shim = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)),
                                         "..", "lib", "waitgraph", "python"))
    n1, n2 = args.requests
    off = {k: v for k, v in os.environ.items() if not k.startswith("WAITGRAPH_")}
    with tempfile.TemporaryDirectory(prefix="wg-uv-instr-") as tmp:
        on = dict(off, PYTHONPATH=shim + (os.pathsep + off["PYTHONPATH"] if off.get("PYTHONPATH") else ""),
                  WAITGRAPH_TRACE=os.path.join(tmp, "t-%p.wgtrace"),
                  WAITGRAPH_STALL_MS=str(100 * SLOWDOWN),
                  WAITGRAPH_TASK_SNAPSHOT_MS=str(500 * SLOWDOWN))
        per = {}
        for name, env in (("no shim", off), ("waitgraph shim", on)):
            a = serve(args.python, env, n1, tmp)
            b = serve(args.python, env, n2, tmp)
            per[name] = (b - a) / (n2 - n1)
            print("%s: %d requests %s instructions, %d requests %s: %.0f instructions per request" % (
                name, n1, "{:,}".format(a), n2, "{:,}".format(b), per[name]), file=sys.stderr)
    print("| configuration | instructions per request | vs. no shim |")
    print("|---|---:|---:|")
    for name, v in per.items():
        print("| %s | %s | %.3fx |" % (name, "{:,.0f}".format(v), v / per["no shim"]))


if __name__ == "__main__":
    main()
