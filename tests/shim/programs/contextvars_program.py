"""Exercises what the shim hooks for contexts (ContextVar.get/set/reset,
contextvars.copy_context, BaseEventLoop.create_task, ThreadPoolExecutor.submit,
Thread.start, asgiref.local.Local) and prints what a program could observe:
values, exception types and messages, traceback shapes, signatures. Its
output must be the same with and without the shim (run_transparency.py)."""

import asyncio
import concurrent.futures as cf
import contextvars
import inspect
import threading
import traceback

import anyio
from asgiref.local import Local
from asgiref.sync import async_to_sync, sync_to_async

var = contextvars.ContextVar("var", default="dflt")
nodefault = contextvars.ContextVar("nodefault")


def out(*args):
    print(*args, flush=True)


def describe(exc):
    return "%s: %s" % (type(exc).__name__, str(exc).split(" at 0x")[0])


def tb_names(exc):
    return [f.name for f in traceback.extract_tb(exc.__traceback__)]


def section_contextvar():
    out("== ContextVar")
    out(var.get(), var.get("arg"), nodefault.get("arg"))
    try:
        nodefault.get()
    except LookupError as e:
        out("lookup", type(e).__name__, tb_names(e))
    token = var.set("one")
    out(var.get(), token.var is var, token.old_value is contextvars.Token.MISSING)
    var.reset(token)
    out(var.get())
    try:
        var.reset(token)
    except RuntimeError as e:
        out(describe(e))
    t2 = nodefault.set(1)
    try:
        var.reset(t2)
    except ValueError as e:
        out(describe(e))
    nodefault.reset(t2)
    other = contextvars.copy_context()
    tok = other.run(var.set, "in other")
    try:
        var.reset(tok)
    except ValueError as e:
        out(describe(e))
    out(other[var], var in other, len(list(other.keys())) >= 1, other.run(var.get))
    try:
        var.set()
    except TypeError as e:
        out(describe(e))
    try:
        var.get(1, 2)
    except TypeError as e:
        out(describe(e))
    out(type(var.get).__name__, var.get.__name__, type(contextvars.copy_context()).__name__)


async def child(n):
    var.set("child-%d" % n)
    await asyncio.sleep(0)
    return var.get()


async def fails():
    raise KeyError("x")


def section_asyncio():
    out("== asyncio")

    async def main():
        var.set("main")
        loop = asyncio.get_running_loop()
        out(await asyncio.gather(child(1), child(2)), var.get())
        t = asyncio.create_task(child(3), name="named")
        out(t.get_name(), await t, var.get())
        t = loop.create_task(child(4))
        out(await t)
        ctx = contextvars.copy_context()
        await asyncio.create_task(child(5), context=ctx)
        out(ctx[var], var.get())
        await asyncio.create_task(child(6), context=None)
        out(await asyncio.ensure_future(child(7)))
        async with asyncio.TaskGroup() as tg:
            t = tg.create_task(child(8))
        out(t.result())
        try:
            await asyncio.create_task(fails())
        except KeyError as e:
            out(describe(e), tb_names(e))
        out(await loop.run_in_executor(None, var.get))
        out(await loop.run_in_executor(None, contextvars.copy_context().run, var.get))
        out(await asyncio.to_thread(var.get))
        out(str(inspect.signature(loop.create_task)), loop.create_task.__name__)
        try:
            loop.create_task(1)
        except TypeError as e:
            out(describe(e))

    asyncio.run(main())
    loop = asyncio.new_event_loop()
    loop.close()
    coro = child(9)
    try:
        loop.create_task(coro)
    except RuntimeError as e:
        out(describe(e), tb_names(e))
    coro.close()


def section_threads():
    out("== threads")
    var.set("caller")
    seen = []
    t = threading.Thread(target=lambda: seen.append(var.get()))
    t.start()
    t.join()
    ctx = contextvars.copy_context()
    t = threading.Thread(target=ctx.run, args=(lambda: seen.append(var.get()),))
    t.start()
    t.join()
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        seen.append(pool.submit(var.get).result())
        seen.append(pool.submit(contextvars.copy_context().run, var.get).result())
        try:
            pool.submit(nodefault.get).result()
        except LookupError as e:
            seen.append(type(e).__name__)
    out(seen)


local = Local()


def section_local():
    out("== asgiref Local")
    local.user = "alice"
    out(local.user, getattr(local, "missing", "none"))
    try:
        local.missing
    except AttributeError as e:
        out(type(e).__name__)
    del local.user
    out(hasattr(local, "user"))

    def sync_reads():
        return getattr(local, "req", None)

    async def main():
        local.req = "r1"
        out(await sync_to_async(sync_reads)())

        async def setter():
            local.req = "r2"

        await asyncio.gather(setter())
        out(local.req)

    async_to_sync(main)()


def section_anyio():
    out("== anyio")

    async def main():
        var.set("anyio")
        out(await anyio.to_thread.run_sync(var.get))
        async with anyio.create_task_group() as tg:
            tg.start_soon(child, 10)
        out(var.get())

    anyio.run(main)


def main():
    section_contextvar()
    section_asyncio()
    section_threads()
    section_local()
    section_anyio()


main()
