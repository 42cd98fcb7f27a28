"""A server making a context per request: batches of asyncio tasks (each in
its own copy of the context), each setting and reading ContextVars,
running a helper in copy_context().run, setting a ContextVar made for the
request alone (as libraries that make a var per object do) and taking a
lock of its own that a second task of the request waits for (a contended
asyncio.Lock made per request, as per-connection locks are). Prints how
much VmRSS and VmHWM grew between a warm-up and the end, in KB, a digest
of what the requests returned (the same with and without the shim) and,
under the shim, what the shim keeps (waitgraph.kept_counts()) half-way and
at the end, as JSON. Under the shim, what is still buffered for the trace
is written out before each measurement: what counts is what the shim
keeps, not its backlog.

usage: context_churn.py REQUESTS"""
import asyncio
import contextvars
import json
import sys

try:
    from waitgraph import flush, kept_counts
except ImportError:  # without the shim
    def flush():
        return False

    def kept_counts():
        return {}

request_id = contextvars.ContextVar("request_id")
user = contextvars.ContextVar("user", default=None)
BATCH = 1000


def status_kb():
    flush()
    out = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def load_user(i):
    token = user.set("user-%d" % (i % 7))
    try:
        return request_id.get() + len(user.get())
    finally:
        user.reset(token)


async def audit(lock):
    async with lock:  # queues: handle() holds it
        return 1


async def handle(i):
    request_id.set(i)
    scratch = contextvars.ContextVar("scratch")
    scratch.set(i)
    lock = asyncio.Lock()
    async with lock:
        auditor = asyncio.ensure_future(audit(lock))
        await asyncio.sleep(0)
    return (contextvars.copy_context().run(load_user, i) + (user.get() is None) + await auditor +
            scratch.get() - i)


async def serve(first, count):
    results = await asyncio.gather(*(handle(i) for i in range(first, first + count)))
    return sum(results)


async def main(total):
    digest = await serve(0, BATCH)
    before = status_kb()
    half = None
    for first in range(BATCH, total, BATCH):
        digest += await serve(first, min(BATCH, total - first))
        if half is None and first + BATCH >= total // 2:
            flush()
            half = kept_counts()
    after = status_kb()
    print("rss growth KB: %d" % (after["VmRSS"] - before["VmRSS"]))
    print("hwm growth KB: %d" % (after["VmHWM"] - before["VmHWM"]))
    print("digest: %d" % digest)
    print("kept: %s" % json.dumps({"half": half, "end": kept_counts()}, sort_keys=True))


asyncio.run(main(int(sys.argv[1])))
