"""A coroutine waits for executor work with a blocking Future.result()
instead of awaiting it: the loop is stuck in a recorded wait, and
loop-stall says what the wait is for (render on the executor)."""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="render")


def render(n):
    time.sleep(0.3)
    return n * 2


async def handle(n):
    future = pool.submit(render, n)
    return future.result()  # blocks the loop


async def heartbeat():
    for _ in range(10):
        await asyncio.sleep(0.02)


async def main():
    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)
    print("rendered", await handle(21))
    await beat
    pool.shutdown()


asyncio.run(main())
