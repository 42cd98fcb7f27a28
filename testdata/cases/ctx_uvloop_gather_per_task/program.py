"""The negative twin of ctx_uvloop_gather_lost_write, on uvloop: requests
handled concurrently by asyncio.gather, each in its own task that sets its
own request id and reads it back (per-task state, by design), then awaits
a receiver in sequence in its own context (the write is seen). The caller
never reads the children's variable. Nothing is lost: silent."""
import asyncio
import contextvars

import uvloop

request_id = contextvars.ContextVar("request_id", default=None)
user = contextvars.ContextVar("user", default=None)


async def authenticate(**kwargs):
    user.set("user-%s" % request_id.get())


async def handle(n):
    request_id.set("req-%d" % n)
    await asyncio.sleep(0)
    await authenticate()  # awaited in this task's own context
    return "%s:%s" % (request_id.get(), user.get())


async def main():
    print(" ".join(await asyncio.gather(*(handle(n) for n in range(3)))))


uvloop.install()
asyncio.run(main())
