"""The loop's default executor (2 workers here) is held by two jobs that
wait on a queue.Queue for results a slow producer delivers after 0.8 s;
a quick lookup sent to the same executor (run_in_executor(None, ...))
queues behind them meanwhile. executor-saturation names both holders."""
import asyncio
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

results = queue.Queue()


def producer():
    time.sleep(0.8)
    for n in range(2):
        results.put(n)


def wait_for_result():
    return results.get()  # holds a worker while it waits


def lookup():
    return "found"


async def main():
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=2))
    threading.Thread(target=producer, name="producer").start()
    holders = [loop.run_in_executor(None, wait_for_result) for _ in range(2)]
    await asyncio.sleep(0.05)
    print("lookup:", await loop.run_in_executor(None, lookup))
    print("results:", sorted(await asyncio.gather(*holders)))


asyncio.run(main())
