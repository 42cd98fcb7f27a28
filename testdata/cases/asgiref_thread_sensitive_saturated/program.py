"""Three concurrent requests each run a slow report through asgiref's
sync_to_async, which is thread-sensitive by default: outside a
ThreadSensitiveContext all such calls share asgiref's one-thread
executor, so the second and third requests queue behind the first.
executor-saturation must name that executor and give a fix that applies
to it (its size is fixed at one thread; thread_sensitive=False or a
ThreadSensitiveContext per request), not "raise the pool's size"."""
import asyncio
import time

from asgiref.sync import sync_to_async


def build_report(n):
    time.sleep(0.7)  # a slow query
    return n * n


async def handle_request(n):
    return await sync_to_async(build_report)(n)


async def main():
    results = await asyncio.gather(*(handle_request(n) for n in range(3)))
    print("reports:", results)


asyncio.run(main())
