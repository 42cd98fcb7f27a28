"""Django ticket #36714's first example on uvloop (uvicorn's default loop
when uvloop is installed): a request_started receiver run by asyncio.gather
sets a ContextVar in its own task, whose context copy uvloop's create_task
makes in C; the view then reads the default. The shim wraps uvloop.Loop's
create_task as it wraps asyncio's, so the copy is seen and the write is
found lost."""
import asyncio
import contextvars

import uvloop

request_id = contextvars.ContextVar("request_id", default=None)


class Signal:
    """Django's Signal.asend, reduced: receivers run concurrently via gather."""

    def __init__(self):
        self.receivers = []

    def connect(self, receiver):
        self.receivers.append(receiver)

    async def asend(self, sender, **named):
        return await asyncio.gather(*(r(signal=self, sender=sender, **named) for r in self.receivers))


request_started = Signal()


async def set_request_id(*args, **kwargs):
    request_id.set("request_id_value")


request_started.connect(set_request_id)


async def index(request):
    print("request_id", request_id.get())
    return "response"


async def handle(scope):
    await request_started.asend(sender=None, scope=scope)
    return await index(scope)


uvloop.install()
asyncio.run(handle({"path": "/"}))
