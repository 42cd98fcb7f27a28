"""The picture subject (README, `waitgraph graph`/`export`/`report` tests).

An asyncio service on the main thread first does everything right: a
thread hands a coroutine to the loop with run_coroutine_threadsafe and
waits for its result while the loop runs it. Then a handler blocks the loop
in time.sleep (a loop stall). Last, the loop thread joins a thread that has
just handed the loop another coroutine: the thread waits for the loop, the
loop's thread waits for the thread, forever.
"""
import asyncio
import threading
import time


async def lookup(key):
    await asyncio.sleep(0.05)
    return key.upper()


def fetch_through_loop(loop, key):
    future = asyncio.run_coroutine_threadsafe(lookup(key), loop)
    return future.result()


async def slow_handler():
    time.sleep(0.3)  # blocks the whole loop


async def main():
    loop = asyncio.get_running_loop()
    done = await loop.run_in_executor(None, fetch_through_loop, loop, "ok")
    print("first lookup:", done, flush=True)
    await slow_handler()
    await asyncio.sleep(0.05)
    worker = threading.Thread(target=fetch_through_loop, args=(loop, "stuck"), name="lookup-worker")
    worker.start()
    time.sleep(0.05)  # the worker has handed off its coroutine and waits
    worker.join()  # the loop cannot run the coroutine the worker waits for


asyncio.run(main())
