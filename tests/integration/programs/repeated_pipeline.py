"""Several requests through asgiref's ThreadSensitiveContext pipeline, spread
over ~0.6 s so the shim writes many chunks, then a normal exit. Each request
shows the edges of the PR #560 deadlock (never all at once), so the earlier
chunks alone already hold a complete finding; test_bad_input.py cuts the last
chunk of this trace.
"""
import asyncio
import time

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async


async def view(n):
    await asyncio.sleep(0.005)
    return n


def middleware(n):
    time.sleep(0.01)
    return async_to_sync(view)(n)


async def handle(n):
    async with ThreadSensitiveContext():
        return await sync_to_async(middleware)(n)


async def main():
    served = []
    for n in range(10):
        served.append(await handle(n))
        await asyncio.sleep(0.05)
    print("served", len(served), flush=True)


asyncio.run(main())
