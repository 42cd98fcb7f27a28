"""A tenant id set by the request is read in thread-pool work started with
loop.run_in_executor, which does not copy the context: the query runs for
the default tenant."""
import asyncio
import contextvars

tenant = contextvars.ContextVar("tenant", default="public")


def load_rows():
    return "rows of " + tenant.get()


async def view():
    tenant.set("acme")
    loop = asyncio.get_running_loop()
    rows = await loop.run_in_executor(None, load_rows)
    print(rows)


asyncio.run(view())
