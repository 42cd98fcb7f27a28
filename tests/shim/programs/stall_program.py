"""Transparency of the stall hooks (waitgraph/_hooks_stall.py): asyncio's
Handle._run (replaced by a C timer) on fast and stalled callbacks, callbacks
that raise, nested loops, every kind of stalled frame the watchdog samples,
and anyio's CapacityLimiter (acquire, WouldBlock, release, errors). Prints
only deterministic results."""
import asyncio
import inspect
import threading
import time
from asyncio import events
from time import sleep

import anyio
import anyio.to_thread
from anyio import CapacityLimiter

print("Handle._run name:", events.Handle._run.__name__, events.Handle._run.__qualname__)
print("signature:", inspect.signature(events.Handle._run))


def busy(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n > 0


class Box:
    def wait(self, seconds):
        time.sleep(seconds)
        return "waited"


def stalls():
    """Callbacks that block the loop in different ways (> 100 ms each)."""
    out = []
    loop = asyncio.new_event_loop()
    loop.call_soon(lambda: out.append(time.sleep(0.12)))
    loop.call_soon(lambda: out.append(sleep(0.12)))
    loop.call_soon(lambda: out.append(busy(0.12)))
    loop.call_soon(lambda: out.append(Box().wait(0.12)))
    loop.call_later(0.01, lambda: out.append("timer ran"))

    def raises():
        time.sleep(0.11)
        raise ValueError("from a stalled callback")
    loop.call_soon(raises)
    loop.set_exception_handler(lambda l, ctx: out.append("handler: %r" % (ctx["exception"],)))
    loop.call_later(0.05, loop.stop)
    loop.run_forever()
    loop.close()
    print("stalled callbacks:", out)


async def task_steps():
    async def blocked(n):
        time.sleep(0.11)
        await asyncio.sleep(0)
        return n * 2

    async def fails():
        time.sleep(0.11)
        raise KeyError("task")

    results = await asyncio.gather(blocked(1), blocked(2), fails(), return_exceptions=True)
    print("task results:", results)


def nested():
    """A loop run inside a callback of another loop (in a thread)."""
    def inner():
        inner_loop = asyncio.new_event_loop()
        try:
            return inner_loop.run_until_complete(asyncio.sleep(0.01, result="inner done"))
        finally:
            inner_loop.close()

    async def outer():
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, inner)

    print("nested:", asyncio.run(outer()))


async def limiter_use():
    limiter = CapacityLimiter(1)
    order = []

    def job(n):
        time.sleep(0.02)
        order.append(n)
        return n

    results = []
    async with anyio.create_task_group() as tg:
        for n in range(3):
            async def one(n=n):
                results.append(await anyio.to_thread.run_sync(job, n, limiter=limiter))
            tg.start_soon(one)
    print("limited results:", sorted(results), "borrowed now:", limiter.borrowed_tokens)
    try:
        limiter.release()
    except RuntimeError as e:
        print("release without a token:", e)
    await limiter.acquire()
    try:
        limiter.acquire_nowait()
    except RuntimeError as e:
        print("acquire twice:", e)
    try:
        limiter.acquire_on_behalf_of_nowait("someone else")
    except anyio.WouldBlock:
        print("would block")
    limiter.release()
    limiter.total_tokens = 2
    print("statistics:", limiter.statistics().borrowed_tokens, limiter.statistics().total_tokens)


stalls()
asyncio.run(task_steps())
nested()
anyio.run(limiter_use)
for t in threading.enumerate():  # anyio's workers stop after anyio.run returns
    if t is not threading.main_thread():
        t.join(5)
print("threads left:", sorted(t.name for t in threading.enumerate()))
