"""Benchmark workload: asyncio.Lock taken and released over and over, the
hot path of the asyncio.Lock owner hooks (waitgraph/_hooks_tasks.py: a C
pre-hook on Lock.acquire and Lock.release that notes the calling task).

One task takes a lock with nobody else around (uncontended: Lock.acquire's
fast path), then many tasks share a few locks and yield while holding them
(contended: waiters queue, releases hand the lock over). Prints ns per
uncontended acquire+release (thread CPU time, measured inside the program)
on stderr.

usage: asyncio_lock_heavy.py [SCALE]   (SCALE 1.0 takes ~1-2 s uninstrumented)
"""
import asyncio
import sys
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
UNCONTENDED = max(1, int(300_000 * SCALE))
TASKS = 50
LOCKS = 4
ROUNDS = max(1, int(400 * SCALE))


async def uncontended():
    lock = asyncio.Lock()
    t0 = time.thread_time_ns()
    for _ in range(UNCONTENDED):
        async with lock:
            pass
    return (time.thread_time_ns() - t0) / UNCONTENDED


async def worker(locks, n, counter):
    for i in range(ROUNDS):
        async with locks[(n + i) % LOCKS]:
            counter[0] += 1
            await asyncio.sleep(0)  # others queue on this lock meanwhile


async def main():
    ns = await uncontended()
    locks = [asyncio.Lock() for _ in range(LOCKS)]
    counter = [0]
    await asyncio.gather(*(worker(locks, n, counter) for n in range(TASKS)))
    print("uncontended acquire+release", "ok" if ns > 0 else "?", "contended", counter[0])
    print("ns per uncontended acquire+release: %.0f" % ns, file=sys.stderr)


asyncio.run(main())
