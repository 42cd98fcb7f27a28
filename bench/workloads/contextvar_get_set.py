"""Benchmark workload: ContextVar get/set, the calls frameworks make
constantly (request ids, tracing spans, sniffio's current library).

Three phases, each timed on its own and printed to stderr as ns per call (the harness
times the whole run; these per-call figures are what bench/RESULTS.md
quotes for the ContextVar hooks):
  get_hot   var.get() in a loop, nothing set in between (the common case)
  set_get   var.set() then var.get(), alternating
  requests  per "request" task: set a request id, 20 gets, 1 reset

usage: contextvar_get_set.py [SCALE]   (SCALE 1.0 takes ~1-2 s uninstrumented)
"""
import asyncio
import contextvars
import sys
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
GETS = max(1, int(6_000_000 * SCALE))
SET_GETS = max(1, int(1_500_000 * SCALE))
REQUESTS = max(1, int(20_000 * SCALE))

var = contextvars.ContextVar("bench_var", default=0)
request_id = contextvars.ContextVar("request_id", default=None)


def get_hot(n):
    get = var.get
    for _ in range(n):
        get()


def set_get(n):
    for i in range(n):
        var.set(i)
        var.get()


async def request(n):
    token = request_id.set(n)
    for _ in range(20):
        request_id.get()
    request_id.reset(token)


async def requests(n):
    for start in range(0, n, 500):
        await asyncio.gather(*(request(i) for i in range(start, min(n, start + 500))))


def timed(label, calls, fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    dt = time.perf_counter() - t0
    # stderr: the harness checks that stdout is the same with and without the shim
    print("%s: %.1f ns/call" % (label, dt * 1e9 / calls), file=sys.stderr)


timed("get_hot", GETS, get_hot, GETS)
timed("set_get", 2 * SET_GETS, set_get, SET_GETS)
timed("requests", 22 * REQUESTS, lambda: asyncio.run(requests(REQUESTS)))
print("done: %d gets, %d set+get, %d requests" % (GETS, SET_GETS, REQUESTS))
