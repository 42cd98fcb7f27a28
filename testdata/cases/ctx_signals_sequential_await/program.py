"""The fix proposed in Django ticket #36714: receivers are awaited one after
another in the request's own context, and the view runs there too, so the
receiver's ContextVar writes are seen and the cleanup finds its connection."""
import asyncio
import contextvars

request_id = contextvars.ContextVar("request_id", default=None)
db_connection = contextvars.ContextVar("db_connection", default=None)


class Signal:
    def __init__(self):
        self.receivers = []

    def connect(self, receiver):
        self.receivers.append(receiver)

    async def asend(self, sender, **named):
        return [await r(signal=self, sender=sender, **named) for r in self.receivers]


request_started = Signal()
request_finished = Signal()


async def set_request_id(**kwargs):
    request_id.set("request_id_value")


async def close_connection(**kwargs):
    if db_connection.get():
        print("close connection")
        db_connection.set(None)


request_started.connect(set_request_id)
request_finished.connect(close_connection)


async def index(request):
    if not db_connection.get():
        db_connection.set("connection")
    print("request_id", request_id.get())


async def handle(scope):
    await request_started.asend(sender=None)
    await index(scope)
    await request_finished.asend(sender=None)


asyncio.run(handle({"path": "/"}))
