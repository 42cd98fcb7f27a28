"""Callbacks that compute a little longer than the stall threshold (100 ms
by default), one after another. When such a callback ends, the shim reports
it from the loop thread, and that report runs Python that lets go of the
GIL (it polls the selector to list unread sockets); a watchdog asking for
the GIL just then used to find the slot still marked "inside the callback"
and sample the report as a new stall, which never ended: a multi-second
"still blocked" error on a loop sitting in its selector. Each stall must be
reported once, with its own length and nothing still blocked."""
import asyncio
import time

CALLBACKS = 12


def compute(ms):
    end = time.perf_counter() + ms / 1000
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


async def main():
    loop = asyncio.get_running_loop()
    for i in range(CALLBACKS):
        loop.call_soon(compute, 101 + i % 4)
        await asyncio.sleep(0.01)
    print("ran %d callbacks" % CALLBACKS)


asyncio.run(main())
