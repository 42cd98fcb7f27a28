"""Recorded by shim_recording_test: one of each interesting event."""
import asyncio
import concurrent.futures as cf
import threading

from asgiref.sync import async_to_sync, sync_to_async


def work(x):
    return x + 1


def main():
    ex = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="wgtest")
    fut = ex.submit(work, 1)
    print("result", fut.result())
    ex.shutdown()

    t = threading.Thread(target=lambda: None, name="joiner")
    t.start()
    t.join()

    async def inner():
        return 5

    def sync_side():
        return async_to_sync(inner)()  # back into the running loop

    async def outer():
        return await sync_to_async(sync_side)()

    print("asgiref", asyncio.run(outer()))


main()
