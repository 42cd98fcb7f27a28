"""A worker thread resolves a future of the event loop that the main thread
is running: fut.set_result from a foreign thread schedules the awaiting
task's wake-up with loop.call_soon, which is not thread-safe (the loop is not
woken; asyncio checks this only in debug mode). A heartbeat keeps the loop
waking up, so the program finishes and raises nothing."""
import asyncio
import threading
import time


def slow_lookup(fut):
    time.sleep(0.1)  # the lookup; meanwhile main awaits the future
    fut.set_result("42")  # a future of the main thread's loop, from this thread


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
