"""The hand-off with a fallback of current upstream asgiref (AsyncToSync):
try the main event loop with call_soon_threadsafe; if it is closed
(RuntimeError), run the work on a new loop in a thread of its own. Called
once while the main loop runs and once after it closed: both calls get
their result."""
import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor

main_loop = None  # what asgiref keeps in SyncToAsync.threadlocal


async def double(x):
    await asyncio.sleep(0)
    return 2 * x


def call_async(coro_fn, x):
    """From a thread: run coro_fn(x) on the main loop if it takes work, else on a new loop."""
    result = Future()

    def start():
        task = asyncio.ensure_future(coro_fn(x))
        task.add_done_callback(lambda t: result.set_result(t.result()))

    try:
        main_loop.call_soon_threadsafe(start)
    except RuntimeError:  # "Event loop is closed": do the work elsewhere
        with ThreadPoolExecutor(max_workers=1) as executor:
            return executor.submit(asyncio.run, coro_fn(x)).result()
    return result.result()


def in_thread(fn, *args):
    out = []
    t = threading.Thread(target=lambda: out.append(fn(*args)))
    t.start()
    t.join()
    return out[0]


async def main():
    global main_loop
    main_loop = asyncio.get_running_loop()
    print("while the main loop runs:", await asyncio.to_thread(call_async, double, 1))


asyncio.run(main())
print("after it closed:", in_thread(call_async, double, 2))
