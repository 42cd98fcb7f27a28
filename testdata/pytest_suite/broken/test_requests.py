import asyncio
import contextvars
import time

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

request_id = contextvars.ContextVar("request_id", default=None)


async def render(request):
    await asyncio.sleep(0.01)
    return "page for " + request["path"]


def sync_middleware(request):
    time.sleep(0.05)  # a sync session lookup
    return async_to_sync(render)(request)


async def handle(request):
    async with ThreadSensitiveContext():
        return await sync_to_async(sync_middleware)(request)


def test_middleware_calls_back_into_the_loop():
    # Passes, but ThreadSensitiveContext.__aexit__ waits for the executor on
    # the loop thread while the middleware waits for the loop: a client that
    # disconnects at the wrong moment hangs the request forever.
    assert asyncio.run(handle({"path": "/orders/"})) == "page for /orders/"


async def set_request_id(**kwargs):
    request_id.set("req-42")


async def request_started(**kwargs):
    # Django's async signal dispatch: every receiver in its own task.
    await asyncio.gather(set_request_id(**kwargs))


async def view():
    await request_started(path="/")
    return request_id.get()


def test_request_id_reaches_the_view():
    # Passes (it checks nothing useful), but the write is lost.
    asyncio.run(view())


def test_plain_view():
    async def ping():
        await asyncio.sleep(0)
        return "pong"

    assert asyncio.run(ping()) == "pong"
