"""Thread-pool work started with a copy of the caller's context (the fix for
context-not-propagated): run_in_executor(None, copy_context().run, fn),
executor.submit with a copy, and asyncio.to_thread all see the tenant."""
import asyncio
import concurrent.futures
import contextvars

tenant = contextvars.ContextVar("tenant", default="public")


def load_rows():
    return "rows of " + tenant.get()


async def view():
    tenant.set("acme")
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    print(await loop.run_in_executor(None, ctx.run, load_rows))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        print(pool.submit(contextvars.copy_context().run, load_rows).result())
    print(await asyncio.to_thread(load_rows))


asyncio.run(view())
