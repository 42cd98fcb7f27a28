"""Transparency of the task-snapshot hooks (waitgraph/_hooks_tasks.py): the
selector's select (SelectHook), asyncio.Lock.acquire/release (owner
pre-hooks), and the watchdog's snapshots taken while tasks wait on every
kind of primitive. Prints results, exceptions (type, message, traceback
function names), cancellations and introspection; run with and without the
shim, the output must be identical.

Some phases keep the loop idle for longer than the snapshot threshold
(500 ms) so that snapshots are taken while tasks wait, are cancelled and
time out."""
import asyncio
import inspect
import os
import selectors
import signal
import threading
import traceback

IDLE = 0.7  # longer than WAITGRAPH_TASK_SNAPSHOT_MS


def out(*args):
    print(*args, flush=True)


def describe(exc):
    return "%s(%s)" % (type(exc).__name__, exc)


def tb_names(exc):
    return [f.name for f in traceback.extract_tb(exc.__traceback__)]


async def lock_section():
    out("== Lock")
    lock = asyncio.Lock()
    out("acquire", await lock.acquire(), lock.locked())
    try:
        await asyncio.wait_for(lock.acquire(), 0.05)
    except asyncio.TimeoutError as e:
        out("second acquire", describe(e))
    lock.release()
    try:
        lock.release()
    except RuntimeError as e:
        out("release unlocked", describe(e), tb_names(e))
    try:
        async with lock:
            raise ValueError("inside")
    except ValueError as e:
        out("async with raised", describe(e), tb_names(e), lock.locked())

    # Contended: a holder sleeps past the snapshot threshold while two
    # waiters queue, one of them cancelled while the loop is idle.
    order = []

    async def holder():
        async with lock:
            order.append("holder")
            await asyncio.sleep(IDLE)

    async def waiter(name):
        async with lock:
            order.append(name)

    h = asyncio.create_task(holder(), name="holder")
    await asyncio.sleep(0)
    w1 = asyncio.create_task(waiter("w1"), name="w1")
    w2 = asyncio.create_task(waiter("w2"), name="w2")
    await asyncio.sleep(IDLE / 2 + 0.2)
    w1.cancel()
    results = await asyncio.gather(h, w1, w2, return_exceptions=True)
    out("contended", order, [describe(r) if isinstance(r, BaseException) else r for r in results],
        lock.locked())
    out("introspection", asyncio.Lock.acquire.__name__, asyncio.Lock.acquire.__qualname__,
        str(inspect.signature(asyncio.Lock.acquire)), bool(asyncio.Lock.acquire.__doc__),
        asyncio.iscoroutinefunction(asyncio.Lock.acquire),
        inspect.iscoroutinefunction(lock.acquire), asyncio.Lock.release.__name__,
        sorted(k for k in vars(lock) if "waitgraph" in k))


async def semaphore_section():
    out("== Semaphore")
    sem = asyncio.BoundedSemaphore(2)
    out("acquire", await sem.acquire(), await sem.acquire(), sem.locked())

    async def late_release():
        await asyncio.sleep(IDLE)
        sem.release()

    t = asyncio.create_task(late_release())
    out("acquire after idle", await sem.acquire())
    await t
    sem.release()
    sem.release()
    try:
        sem.release()
    except ValueError as e:
        out("over-release", describe(e))


async def event_condition_section():
    out("== Event / Condition")
    ev = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(IDLE, ev.set)
    out("event", await ev.wait(), ev.is_set())
    ev.clear()
    try:
        async with asyncio.timeout(IDLE):
            await ev.wait()
    except TimeoutError as e:
        out("event timeout", describe(e), tb_names(e))
    cond = asyncio.Condition()
    state = []

    async def consumer():
        async with cond:
            await cond.wait_for(lambda: state)
            return state.pop()

    async def producer():
        await asyncio.sleep(IDLE)
        async with cond:
            state.append("item")
            cond.notify()

    out("condition", await asyncio.gather(consumer(), producer()))
    try:
        await cond.wait()
    except RuntimeError as e:
        out("wait unlocked", describe(e))


async def queue_section():
    out("== Queue")
    q = asyncio.Queue(maxsize=1)
    q.put_nowait(1)
    try:
        q.put_nowait(2)
    except asyncio.QueueFull as e:
        out("put_nowait full", describe(e))

    async def slow_get():
        await asyncio.sleep(IDLE)
        return q.get_nowait()

    getter = asyncio.create_task(slow_get())
    await q.put(2)  # waits for the slow getter
    out("put after idle", await getter, q.get_nowait())
    try:
        q.get_nowait()
    except asyncio.QueueEmpty as e:
        out("get_nowait empty", describe(e))
    blocked = asyncio.create_task(q.get())
    await asyncio.sleep(IDLE)
    blocked.cancel()
    try:
        await blocked
    except asyncio.CancelledError as e:
        out("get cancelled", describe(e), blocked.cancelled())


async def wait_section():
    out("== gather / wait / tasks")

    async def child(n, delay):
        await asyncio.sleep(delay)
        if n == 2:
            raise KeyError(n)
        return n

    tasks = [asyncio.create_task(child(n, IDLE), name="child-%d" % n) for n in range(3)]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    out("wait", len(done), len(pending))
    res = await asyncio.gather(*tasks, return_exceptions=True)
    out("gather", [describe(r) if isinstance(r, BaseException) else r for r in res])
    forever = asyncio.create_task(asyncio.Event().wait(), name="forever")
    awaiter = asyncio.create_task(asyncio.wait_for(forever, IDLE))
    try:
        await awaiter
    except asyncio.TimeoutError as e:
        out("await task timed out", describe(e), forever.cancelled())


def selector_section():
    out("== selectors")
    sel = selectors.DefaultSelector()
    r, w = os.pipe()
    sel.register(r, selectors.EVENT_READ, "data")
    out("select empty", sel.select(0.01))
    os.write(w, b"x")
    out("select ready", [(k.data, m) for k, m in sel.select(1)])
    sel.close()
    os.close(r)
    os.close(w)
    out("select", type(selectors.DefaultSelector).__name__, selectors.DefaultSelector.select.__name__,
        str(inspect.signature(selectors.DefaultSelector.select)))


async def in_thread_loop():
    lock = asyncio.Lock()
    async with lock:
        await asyncio.sleep(IDLE)
    return "thread loop ok"


async def main():
    await lock_section()
    await semaphore_section()
    await event_condition_section()
    await queue_section()
    await wait_section()


def on_alarm(signum, frame):
    out("signal handler ran")


if __name__ == "__main__":
    asyncio.run(main())
    selector_section()
    result = []
    t = threading.Thread(target=lambda: result.append(asyncio.run(in_thread_loop())))
    t.start()
    t.join()
    out(result)
    # A signal arriving while the loop sits in its selector (snapshotted).
    signal.signal(signal.SIGALRM, on_alarm)

    async def wait_for_alarm():
        signal.setitimer(signal.ITIMER_REAL, IDLE)
        await asyncio.sleep(IDLE * 2)

    asyncio.run(wait_for_alarm())
    try:
        asyncio.run(asyncio.wait_for(asyncio.Event().wait(), 0.1))
    except TimeoutError as e:
        out("run timed out", describe(e))
    out("threads", sorted(t.name for t in threading.enumerate()))
    out("done")
