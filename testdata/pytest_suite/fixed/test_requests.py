import asyncio
import contextvars
import time

from asgiref.sync import ThreadSensitiveContext, sync_to_async

request_id = contextvars.ContextVar("request_id", default=None)


async def render(request):
    await asyncio.sleep(0.01)
    return "page for " + request["path"]


def sync_middleware(request):
    time.sleep(0.05)  # a sync session lookup
    return request


async def handle(request):
    # Fixed: the sync part only does sync work; the view is awaited here.
    async with ThreadSensitiveContext():
        request = await sync_to_async(sync_middleware)(request)
    return await render(request)


def test_middleware_calls_back_into_the_loop():
    assert asyncio.run(handle({"path": "/orders/"})) == "page for /orders/"


async def set_request_id(**kwargs):
    request_id.set("req-42")


async def request_started(**kwargs):
    # Fixed: receivers awaited in the request's own context.
    await set_request_id(**kwargs)


async def view():
    await request_started(path="/")
    return request_id.get()


def test_request_id_reaches_the_view():
    assert asyncio.run(view()) == "req-42"


def test_plain_view():
    async def ping():
        await asyncio.sleep(0)
        return "pong"

    assert asyncio.run(ping()) == "pong"
