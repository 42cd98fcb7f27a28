"""Transparency of the loop-affinity hooks (waitgraph/_hooks_loops.py): every
hooked asyncio API, on its normal path and on the paths where the shim
records something (a foreign loop or thread, a closed loop, a different-loop
await), prints its results, exceptions and tracebacks' function names. Run
with and without the shim by run_transparency.py: the output must match."""
import asyncio
import inspect
import socket
import threading


def out(*args):
    print(*args, flush=True)


def describe(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def tb_names(exc):
    names = []
    tb = exc.__traceback__
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


def section_scheduling():
    out("== scheduling")
    loop = asyncio.new_event_loop()
    seen = []
    h = loop.call_soon(seen.append, 1)
    out("call_soon handle", type(h).__name__, h.cancelled())
    th = loop.call_later(0.001, seen.append, 2)
    out("call_later handle", type(th).__name__)
    loop.call_at(loop.time() + 0.002, seen.append, 3)
    fut = loop.create_future()
    out("create_future", type(fut).__name__, fut.get_loop() is loop)

    async def work(x):
        await asyncio.sleep(0.005)
        return x * 2

    task = loop.create_task(work(21), name="worker")
    out("create_task", type(task).__name__, task.get_name())
    out("run", loop.run_until_complete(task), seen)
    try:
        loop.call_soon(1)
    except TypeError as e:
        out("call_soon(non-callable)", describe(e))
    loop.close()
    for name, call in (("call_soon", lambda: loop.call_soon(print)),
                       ("call_later", lambda: loop.call_later(1, print)),
                       ("create_future", lambda: loop.create_future()),
                       ("call_soon_threadsafe", lambda: loop.call_soon_threadsafe(print))):
        try:
            r = call()
            out(name, "on closed loop returned", type(r).__name__)
        except RuntimeError as e:
            out(name, "on closed loop", describe(e), tb_names(e)[:1])
    coro = work(1)
    try:
        loop.create_task(coro)
    except RuntimeError as e:
        out("create_task on closed loop", describe(e))
    coro.close()


def section_foreign_thread():
    out("== foreign thread")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    t = threading.Thread(target=lambda: (loop.call_soon(started.set), loop.run_forever()))
    t.start()
    started.wait(5)
    done = threading.Event()
    loop.call_soon(done.set)          # not thread-safe, recorded; still works here
    loop.call_soon_threadsafe(lambda: None)  # wakes the loop
    out("foreign call_soon ran", done.wait(5))
    fut = asyncio.run_coroutine_threadsafe(asyncio.sleep(0, "ok"), loop)
    out("rcts", fut.result(5))
    loop.call_soon_threadsafe(loop.stop)
    t.join(5)
    loop.close()


def section_primitives():
    out("== primitives")

    async def use_all():
        lock, event, cond = asyncio.Lock(), asyncio.Event(), asyncio.Condition()
        sem, bsem, queue = asyncio.Semaphore(2), asyncio.BoundedSemaphore(1), asyncio.Queue(1)
        async with lock:
            out("lock held", lock.locked())
        waiter = asyncio.create_task(event.wait())
        await asyncio.sleep(0)
        event.set()
        out("event", await waiter)
        async with cond:
            cond.notify_all()
        async with sem:
            out("sem", sem.locked())
        async with bsem:
            pass
        try:
            bsem.release()
        except ValueError as e:
            out("bounded release", describe(e))
        await queue.put("a")
        try:
            queue.put_nowait("b")
        except asyncio.QueueFull as e:
            out("put_nowait full", type(e).__name__)
        out("get", await queue.get(), queue.qsize())
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty as e:
            out("get_nowait empty", type(e).__name__)
        getter = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        queue.put_nowait("c")
        out("woken getter", await getter)
        try:
            asyncio.Semaphore(-1)
        except ValueError as e:
            out("Semaphore(-1)", describe(e))
        return lock, event, queue

    lock, event, queue = asyncio.run(use_all())

    async def on_other_loop():
        # Bound to the first loop: a waiter from this one raises, put_nowait
        # from here is (silently) a crossing.
        queue.put_nowait("x")
        out("foreign put_nowait", queue.qsize())
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), 0.01)
        except RuntimeError as e:
            out("foreign event.wait", describe(e).split(" is bound")[0][:30], "is bound...")
        event.set()
        await lock.acquire()
        lock.release()
        out("lock on other loop ok")

    asyncio.run(on_other_loop())
    queue.get_nowait()  # from no loop at all
    out("get_nowait without a loop ok")


def section_transports():
    out("== transports")

    async def echo():
        a, b = socket.socketpair()
        r1, w1 = await asyncio.open_connection(sock=a)
        r2, w2 = await asyncio.open_connection(sock=b)
        w1.write(b"ping\n")
        w1.writelines([b"pong\n"])
        await w1.drain()
        lines = [await r2.readline(), await r2.readline()]
        for w in (w1, w2):
            w.close()
            await w.wait_closed()
        return lines, w1.transport, r2

    lines, transport, reader = asyncio.run(echo())
    out("echo", lines)
    try:
        transport.write(b"late")
        out("write after close: silently ignored")
    except Exception as e:
        out("write after close", describe(e))


def section_different_loop_await():
    out("== different-loop await")
    other = asyncio.new_event_loop()
    fut = other.create_future()

    async def waiter():
        return await fut

    try:
        asyncio.run(waiter())
    except RuntimeError as e:
        out("await foreign future", "attached to a different loop" in str(e), tb_names(e)[-1:])
    other.close()


def section_introspection():
    out("== introspection")
    for f in (asyncio.BaseEventLoop.call_soon, asyncio.BaseEventLoop.call_later,
              asyncio.BaseEventLoop.call_at, asyncio.BaseEventLoop.create_task,
              asyncio.BaseEventLoop.create_future, asyncio.Queue.put_nowait,
              asyncio.Queue.get_nowait, asyncio.Event.set, asyncio.Lock.release,
              asyncio.Condition.notify, asyncio.Semaphore.release, asyncio.Queue.__init__,
              asyncio.Lock.__init__):
        out(f.__qualname__, str(inspect.signature(f)), bool(f.__doc__))


def main():
    section_scheduling()
    section_foreign_thread()
    section_primitives()
    section_transports()
    section_different_loop_await()
    section_introspection()
    out("done")


main()
