"""multiprocessing.Pool workers (start method from argv[1]: fork, spawn or
forkserver) that each run asyncio work with a lost ContextVar write: a
task made by asyncio.gather sets request_id in its own copy of the
context, and the job reads it afterwards (lost-context-write). A barrier
makes each of the two workers take one job. The parent does no async work.
"""
import asyncio
import contextvars
import multiprocessing
import os
import sys

request_id = contextvars.ContextVar("request_id", default=None)
_barrier = None


def _init(barrier):
    global _barrier
    _barrier = barrier


async def tag(n):
    request_id.set("job-%d" % n)


async def job(n):
    await asyncio.gather(tag(n))
    return request_id.get()  # the default: the write went to the gather task's copy


def work(n):
    _barrier.wait(timeout=30)
    return asyncio.run(job(n))


if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[1])
    barrier = ctx.Barrier(2)
    pool = ctx.Pool(2, initializer=_init, initargs=(barrier,))
    print(pool.map(work, [1, 2], chunksize=1), flush=True)
    pool.close()
    pool.join()
    print("parent done", flush=True)
