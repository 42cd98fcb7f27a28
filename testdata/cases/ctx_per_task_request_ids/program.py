"""Per-task request ids: each request task sets its own id and reads it back
for its log line; the server keeps its own id. Every task reads its own
writes: nothing is lost."""
import asyncio
import contextvars

request_id = contextvars.ContextVar("request_id", default="-")


def log(message):
    print("[%s] %s" % (request_id.get(), message))


async def serve(n):
    request_id.set("req-%d" % n)
    await asyncio.sleep(0.01 * n)
    log("handled")


async def main():
    request_id.set("server")
    log("starting")
    await asyncio.gather(*(serve(n) for n in range(3)))
    tasks = [asyncio.create_task(serve(n)) for n in range(3, 5)]
    await asyncio.wait(tasks)
    log("done")


async def main_without_own_id():
    log("starting")  # "-": the server has no request id of its own
    await asyncio.gather(*(serve(n) for n in range(5, 7)))
    log("done")


asyncio.run(main())
asyncio.run(main_without_own_id())
