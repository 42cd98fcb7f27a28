"""Negative twin of future_resolved_from_foreign_thread: the worker thread
resolves the loop's future through the loop's thread-safe door,
loop.call_soon_threadsafe(fut.set_result, value). Silent."""
import asyncio
import threading
import time


def slow_lookup(fut):
    time.sleep(0.1)  # the lookup; meanwhile main awaits the future
    fut.get_loop().call_soon_threadsafe(fut.set_result, "42")


async def heartbeat(stop):
    while not stop.is_set():
        await asyncio.sleep(0.01)


async def main():
    loop = asyncio.get_running_loop()
    answer = loop.create_future()
    stop = asyncio.Event()
    beat = asyncio.create_task(heartbeat(stop))
    worker = threading.Thread(target=slow_lookup, args=(answer,), name="lookup-worker")
    worker.start()
    value = await asyncio.wait_for(answer, 10)
    stop.set()
    await beat
    worker.join()
    return value


print("answer:", asyncio.run(main()))
