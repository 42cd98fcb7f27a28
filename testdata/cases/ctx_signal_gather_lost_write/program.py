"""Django ticket #36714, first example: a request_started receiver sets a
ContextVar, but async signal dispatch runs receivers through asyncio.gather,
so each runs in its own task with its own copy of the context, and the view
reads the default."""
import asyncio
import contextvars

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


async def set_global_variable(*args, **kwargs):
    request_id.set("request_id_value")
    print("get value", request_id.get())


request_started.connect(set_global_variable)


async def index(request):
    print("request_id", request_id.get())
    return "response"


async def handle(scope):
    await request_started.asend(sender=None, scope=scope)
    return await index(scope)


asyncio.run(handle({"path": "/"}))
