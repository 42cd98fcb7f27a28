"""Benchmark workload: asgiref sync_to_async / async_to_sync round trips.

Concurrent request-like coroutines each hop to sync code with
sync_to_async (thread-sensitive), which calls back into the loop with
async_to_sync, whose coroutine hops to sync code again (run on the waiting
worker through its CurrentThreadExecutor); some requests use a
ThreadSensitiveContext and some use thread_sensitive=False.

usage: asgiref_round_trips.py [SCALE]   (SCALE 1.0 takes ~1-2 s uninstrumented)
"""
import asyncio
import sys

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
BATCHES = max(1, int(120 * SCALE))
CONCURRENCY = 25


def leaf(n):
    return n + 1


async def inner(n):
    return await sync_to_async(leaf)(n)


def middle(n):
    return async_to_sync(inner)(n)


async def request(n):
    if n % 5 == 0:
        async with ThreadSensitiveContext():
            return await sync_to_async(middle)(n)
    if n % 5 == 1:
        return await sync_to_async(leaf, thread_sensitive=False)(n)
    return await sync_to_async(middle)(n)


async def main():
    total = 0
    for b in range(BATCHES):
        total += sum(await asyncio.gather(*(request(b * CONCURRENCY + i) for i in range(CONCURRENCY))))
    return total


if __name__ == "__main__":
    print("checksum", asyncio.run(main()))
