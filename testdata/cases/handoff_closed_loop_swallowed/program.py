"""The other side of handoff_closed_loop_fallback: the same hand-off into the
main loop with call_soon_threadsafe, but a caller that swallows the
RuntimeError of the closed loop and returns a default: the work is never
done anywhere."""
import asyncio
import threading
from concurrent.futures import Future

main_loop = None


async def double(x):
    await asyncio.sleep(0)
    return 2 * x


def call_async(coro_fn, x):
    """From a thread: run coro_fn(x) on the main loop; None if that fails."""
    result = Future()

    def start():
        task = asyncio.ensure_future(coro_fn(x))
        task.add_done_callback(lambda t: result.set_result(t.result()))

    try:
        main_loop.call_soon_threadsafe(start)
    except RuntimeError:  # the loop is closed: the work is dropped
        return None
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
