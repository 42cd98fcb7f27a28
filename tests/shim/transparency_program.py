"""Exercises every API the waitgraph shim patches and prints what a program
could observe (results, exception types and messages, timeouts, order,
traceback shapes, signatures, threads). Its stdout and stderr must be the
same with and without the shim (run_transparency.py compares them).
Nothing printed may depend on timing, ids or addresses."""

import asyncio
import concurrent.futures as cf
import functools
import inspect
import os
import queue
import sys
import threading
import time
import traceback

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async


def out(*args):
    print(*args, flush=True)


def describe(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def tb_names(exc):
    return [f.name for f in traceback.extract_tb(exc.__traceback__)]


def boom(msg):
    raise ValueError(msg)


# --- concurrent.futures ---------------------------------------------------

def section_futures():
    out("== futures")
    with cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="tp") as ex:
        out("submit/result", ex.submit(pow, 2, 10).result())
        out("submit kwargs", ex.submit(functools.partial(int, base=16), "ff").result())
        f = ex.submit(boom, "bad value")
        try:
            f.result()
        except ValueError as e:
            out("result raised", describe(e), tb_names(e))
        out("exception()", describe(f.exception()))
        gate = threading.Event()
        slow = ex.submit(gate.wait)
        try:
            slow.result(timeout=0.05)
        except cf.TimeoutError as e:
            out("result timeout", type(e).__name__, e.args)
        try:
            slow.exception(timeout=0.01)
        except TimeoutError as e:
            out("exception timeout", type(e).__name__)
        blocker = ex.submit(gate.wait)
        queued = ex.submit(pow, 3, 3)
        out("cancel queued", queued.cancel(), queued.cancel(), queued.cancelled())
        try:
            queued.result()
        except cf.CancelledError as e:
            out("cancelled result", type(e).__name__)
        gate.set()
        out("slow/blocker", slow.result(), blocker.result(), slow.cancel())
        out("map", list(ex.map(pow, [1, 2, 3], [2, 2, 2])))
        try:
            list(ex.map(boom, ["in map"]))
        except ValueError as e:
            out("map raised", describe(e))

        # as_completed, in a fixed completion order
        evs = [threading.Event() for _ in range(3)]
        done_early = ex.submit(lambda: "early")
        done_early.result()
        ex = cf.ThreadPoolExecutor(max_workers=3)  # all of these run at once
        fs = [ex.submit(lambda i=i: (evs[i].wait(5), i)[1]) for i in range(2)]
        order = []
        it = cf.as_completed(fs + [done_early] + [done_early], timeout=10)
        out("as_completed type", type(it).__name__, inspect.isgenerator(it))
        for n, fut in enumerate(it):
            order.append(fut.result())
            if n == 0:
                evs[1].set()
            if n == 1:
                evs[0].set()
        out("as_completed order", order)
        never = ex.submit(evs[2].wait, 5)
        try:
            for fut in cf.as_completed([never], timeout=0.05):
                out("unexpected", fut)
        except cf.TimeoutError as e:
            out("as_completed timeout", describe(e))
        out("as_completed generator arg", [f.result() for f in cf.as_completed(
            (f for f in [done_early]))])
        # wait()
        r = cf.wait([never, done_early], timeout=0.05)
        out("wait ALL timeout", len(r.done), len(r.not_done))
        r = cf.wait([never, done_early], return_when=cf.FIRST_COMPLETED)
        out("wait FIRST_COMPLETED", len(r.done), len(r.not_done))
        bad = ex.submit(boom, "x")
        r = cf.wait({never, bad}, return_when=cf.FIRST_EXCEPTION)
        out("wait FIRST_EXCEPTION", len(r.done), len(r.not_done))
        r = cf.wait(iter([done_early]))
        out("wait iterator", len(r.done), len(r.not_done))
        evs[2].set()
        r = cf.wait([never])
        out("wait ALL", len(r.done), len(r.not_done), type(r).__name__)
        ex.shutdown()
        try:
            cf.wait([1, 2], timeout=0.01)
        except AttributeError as e:
            out("wait non-futures", type(e).__name__)

    # Future used directly
    f = cf.Future()
    f.set_result(1)
    try:
        f.set_result(2)
    except cf.InvalidStateError as e:
        out("set twice", type(e).__name__, str(e).split(":")[0])
    f = cf.Future()
    f.set_exception(KeyError("k"))
    out("set_exception", describe(f.exception()))
    f = cf.Future()
    out("cancel pending", f.cancel(), f.cancel(), f.done())
    f = cf.Future()
    f.set_running_or_notify_cancel()
    out("cancel running", f.cancel())
    out("future repr kind", repr(f).split(" ")[0], "state=running" in repr(f))

    # shutdown variants
    ex = cf.ThreadPoolExecutor(1)
    gate = threading.Event()
    first = ex.submit(gate.wait, 5)
    rest = [ex.submit(pow, 2, i) for i in range(3)]
    ex.shutdown(wait=False, cancel_futures=True)
    out("cancel_futures", [r.cancelled() for r in rest])
    gate.set()
    out("first after shutdown", first.result())
    try:
        ex.submit(pow, 1, 1)
    except RuntimeError as e:
        out("submit after shutdown", describe(e))
    ex.shutdown()
    try:
        cf.ThreadPoolExecutor(max_workers=0)
    except ValueError as e:
        out("bad max_workers", describe(e))
    ex = cf.ThreadPoolExecutor()
    out("default max_workers", ex._max_workers == min(32, (os.cpu_count() or 1) + 4))
    ex.shutdown(wait=True)

    class MyExecutor(cf.ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            return super().submit(fn, *args, **kwargs)

    with MyExecutor(1) as ex:
        out("subclass", ex.submit(lambda: "sub").result())


# --- threading --------------------------------------------------------------

def section_threading():
    out("== threading")
    result = []
    t = threading.Thread(target=lambda: result.append("ran"), name="worker-1")
    t.start()
    t.join()
    out("join", result, t.is_alive(), t.name)
    gate = threading.Event()
    t = threading.Thread(target=gate.wait, daemon=True)
    t.start()
    t.join(timeout=0.05)
    out("join timeout alive", t.is_alive())
    gate.set()
    t.join()
    out("joined", t.is_alive())
    try:
        threading.current_thread().join()
    except RuntimeError as e:
        out("join self", describe(e))
    try:
        threading.Thread(target=print).join()
    except RuntimeError as e:
        out("join unstarted", describe(e))
    t = threading.Thread(target=print)
    t.start()
    t.join()
    try:
        t.start()
    except RuntimeError as e:
        out("start twice", describe(e))
    ev = threading.Event()
    out("event timeout", ev.wait(0.02), ev.wait(timeout=0))
    threading.Timer(0.01, ev.set).start()
    out("event set", ev.wait(5), ev.wait())
    cond = threading.Condition()
    with cond:
        out("condition timeout", cond.wait(0.02))
        out("wait_for", cond.wait_for(lambda: True), cond.wait_for(lambda: False, 0.01))
    flag = []

    def notifier():
        with cond:
            flag.append(1)
            cond.notify_all()

    with cond:
        threading.Thread(target=notifier).start()
        out("condition notified", cond.wait_for(lambda: flag, 5))
    try:
        cond.wait()
    except RuntimeError as e:
        out("wait unacquired", describe(e))
    sem = threading.Semaphore(1)
    out("semaphore", sem.acquire(), sem.acquire(timeout=0.01), sem.acquire(blocking=False))
    barrier = threading.Barrier(2)
    ts = [threading.Thread(target=barrier.wait) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out("barrier", barrier.n_waiting)

    def fails():
        raise KeyError("in thread")

    t = threading.Thread(target=fails, name="failing")
    t.start()
    t.join()
    local = threading.local()
    local.x = 1
    out("local", local.x)


# --- queue ------------------------------------------------------------------

def section_queue():
    out("== queue")
    q = queue.Queue()
    try:
        q.get(timeout=0.02)
    except queue.Empty as e:
        out("get timeout", type(e).__name__)
    try:
        q.get(block=False)
    except queue.Empty:
        out("get nowait empty")
    try:
        q.get(timeout=-1)
    except ValueError as e:
        out("get negative", describe(e))
    bq = queue.Queue(maxsize=1)
    bq.put("a")
    try:
        bq.put("b", timeout=0.02)
    except queue.Full as e:
        out("put timeout", type(e).__name__)
    threading.Timer(0.01, bq.get).start()
    bq.put("c", timeout=5)
    out("put after get", bq.get())

    def producer():
        for i in range(5):
            q.put(i)
        q.put(None)

    threading.Thread(target=producer).start()
    items = []
    while (item := q.get()) is not None:
        items.append(item)
    out("producer/consumer", items)
    lq = queue.LifoQueue()
    lq.put(1)
    lq.put(2)
    out("lifo", lq.get(), lq.get())
    pq = queue.PriorityQueue()
    threading.Timer(0.01, pq.put, args=(5,)).start()
    out("priority", pq.get(timeout=5))


# --- asyncio ----------------------------------------------------------------

async def acompute(x):
    await asyncio.sleep(0)
    return x * 2


async def afail(msg):
    await asyncio.sleep(0)
    raise LookupError(msg)


def section_asyncio():
    out("== asyncio")

    async def main():
        loop = asyncio.get_running_loop()
        a = await loop.run_in_executor(None, pow, 2, 5)
        try:
            await loop.run_in_executor(None, boom, "in executor")
        except ValueError as e:
            out("run_in_executor raised", describe(e))
        with cf.ThreadPoolExecutor(1) as ex:
            b = await loop.run_in_executor(ex, sum, [1, 2, 3])
        fut = loop.create_future()
        threading.Thread(target=lambda: loop.call_soon_threadsafe(fut.set_result, "handed")).start()
        c = await fut
        return a, b, c

    out("asyncio.run", asyncio.run(main()))
    try:
        asyncio.run(afail("top"))
    except LookupError as e:
        out("asyncio.run raised", describe(e), tb_names(e))

    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_forever, name="loop-thread")
    t.start()
    try:
        out("rcts", asyncio.run_coroutine_threadsafe(acompute(21), loop).result(5))
        f = asyncio.run_coroutine_threadsafe(afail("remote"), loop)
        try:
            f.result(5)
        except LookupError as e:
            out("rcts raised", describe(e))
        f = asyncio.tasks.run_coroutine_threadsafe(asyncio.sleep(10), loop)
        try:
            f.result(timeout=0.02)
        except cf.TimeoutError:
            out("rcts timeout", f.cancel())
        try:
            asyncio.run_coroutine_threadsafe(123, loop)
        except TypeError as e:
            out("rcts bad arg", describe(e))
        try:
            loop.run_forever()
        except RuntimeError as e:
            out("run_forever twice", describe(e))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join()
    out("loop stopped", loop.is_running(), loop.is_closed())
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    loop.close()
    try:
        loop.call_soon_threadsafe(print)
    except RuntimeError as e:
        out("closed loop", describe(e))
    try:
        loop.run_forever()
    except RuntimeError as e:
        out("closed run_forever", describe(e))


# --- asgiref ----------------------------------------------------------------

def section_asgiref():
    out("== asgiref")
    main_thread = threading.current_thread()

    def sync_double(x):
        return x * 2, threading.current_thread() is main_thread

    def sync_fail():
        raise PermissionError("sync side")

    async def async_double(x):
        return await acompute(x)

    out("async_to_sync", async_to_sync(async_double)(4))
    try:
        async_to_sync(afail)("async side")
    except LookupError as e:
        out("async_to_sync raised", describe(e))

    async def outer():
        r1 = await sync_to_async(sync_double)(5)
        r2 = await sync_to_async(sync_double, thread_sensitive=False)(6)
        try:
            await sync_to_async(sync_fail)()
        except PermissionError as e:
            out("sync_to_async raised", describe(e))

        def sync_inner():
            # back into the outer loop from its thread-sensitive thread
            return async_to_sync(async_double)(7)

        r3 = await sync_to_async(sync_inner)()
        async with ThreadSensitiveContext():
            r4 = await sync_to_async(sync_double)(8)
        return r1, r2[0], r3, r4[0]

    out("outer", async_to_sync(outer)())
    out("asyncio.run(outer)", asyncio.run(outer()))

    def nested_sync():
        return async_to_sync(outer)()

    out("from a thread", cf.ThreadPoolExecutor(1).submit(nested_sync).result())


def section_asgiref_executors():
    """What the executor hooks see: CurrentThreadExecutor work, tasks started
    inside async_to_sync (the AsyncToSync dependency walk), timeouts on the
    way, late results for cancelled run_in_executor futures."""
    out("== asgiref executors")
    from asgiref.current_thread_executor import CurrentThreadExecutor

    def sync_fail():
        raise PermissionError("cte side")

    async def via_tasks(x):
        # gathered tasks: not the AsyncToSync task, so not its executor
        results = await asyncio.gather(
            asyncio.ensure_future(sync_to_async(pow, thread_sensitive=False)(x, 2)),
            sync_to_async(abs, thread_sensitive=False)(-x))
        task = asyncio.ensure_future(sync_to_async(str, thread_sensitive=False)(x))
        try:
            await asyncio.wait_for(asyncio.shield(task), 5)
            async with asyncio.timeout(5):
                await task
        except AttributeError:  # no asyncio.timeout before 3.11
            await task
        return results, task.result()

    def view(x):
        r = async_to_sync(via_tasks)(x)
        try:
            async_to_sync(sync_to_async(sync_fail))()
        except PermissionError as e:
            out("cte work raised", describe(e))
        return r

    async def handler():
        return await sync_to_async(view)(3)

    out("view", async_to_sync(handler)())
    cte = CurrentThreadExecutor()
    try:
        cte.submit(int)
    except RuntimeError as e:
        out("own-thread submit", describe(e))
    out("cte submit", cte.submit.__qualname__, str(inspect.signature(cte.submit)))

    async def abandoned():
        loop = asyncio.get_running_loop()
        gate = threading.Event()
        fut = loop.run_in_executor(None, gate.wait, 5)
        await asyncio.sleep(0)
        fut.cancel()  # the work still runs; its result comes back late
        gate.set()
        await asyncio.sleep(0.05)
        return fut.cancelled()

    out("abandoned", asyncio.run(abandoned()))
    cf_future = cf.ThreadPoolExecutor(1).submit(pow, 2, 5)

    async def wrapped():
        return await asyncio.wrap_future(cf_future)

    out("wrap_future", asyncio.run(wrapped()))


# --- introspection ----------------------------------------------------------

def section_introspection():
    out("== introspection")
    for fn in (cf.Future.result, cf.ThreadPoolExecutor.submit, threading.Thread.join,
               threading.Event.wait, queue.Queue.get, asyncio.run_coroutine_threadsafe,
               cf.wait, cf.as_completed, asyncio.BaseEventLoop.run_forever):
        out(fn.__name__, fn.__qualname__, str(inspect.signature(fn)), bool(fn.__doc__),
            fn.__module__)
    ex = cf.ThreadPoolExecutor(1)
    out("executor dict", sorted(k for k in vars(ex) if "waitgraph" in k))
    f = ex.submit(int)
    f.result()
    out("future dict", sorted(k for k in vars(f) if "waitgraph" in k))
    ex.shutdown()
    out("bound method", cf.Future().result.__self__.__class__.__name__)


def section_fork():
    out("== fork")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        with cf.ThreadPoolExecutor(1) as ex:
            v = ex.submit(pow, 3, 4).result()
        os.write(w, b"child %d" % v)
        os._exit(0)
    os.close(w)
    data = os.read(r, 100)
    os.waitpid(pid, 0)
    out("fork", data.decode())


def main():
    section_futures()
    section_threading()
    section_queue()
    section_asyncio()
    section_asgiref()
    section_asgiref_executors()
    section_introspection()
    section_fork()
    # Leftover threads visible to Python (none of the shim's own).
    time.sleep(0.05)
    out("threads", sorted(t.name for t in threading.enumerate()
                          if not t.name.startswith(("ThreadPoolExecutor", "asyncio", "Thread-"))))
    out("done")


if __name__ == "__main__":
    main()
