"""Django ticket #36714, second example: the view opens a connection and
keeps it in a ContextVar; the request_finished receiver that should close it
runs in a task made by asyncio.gather (and the view in its own task, as in
ASGIHandler.handle), so it finds nothing to close."""
import asyncio
import contextvars

db_connection = contextvars.ContextVar("db_connection", default=None)


class Signal:
    def __init__(self):
        self.receivers = []

    def connect(self, receiver):
        self.receivers.append(receiver)

    async def asend(self, sender, **named):
        return await asyncio.gather(*(r(signal=self, sender=sender, **named) for r in self.receivers))


request_finished = Signal()


async def get_or_create_connection():
    if not db_connection.get():
        db_connection.set("connection")
    return db_connection.get()


async def close_connection(*args, **kwargs):
    connection = db_connection.get()
    if not connection:
        print("cannot clean - connection does not exist")
        return
    print("close connection")


request_finished.connect(close_connection)


async def index(request):
    connection = await get_or_create_connection()
    return "ok"


async def process_request(request):
    return await index(request)


async def handle(scope):
    # ASGIHandler.handle: the request runs in its own task.
    task = asyncio.create_task(process_request(scope))
    await asyncio.wait([task])
    await request_finished.asend(sender=None)


asyncio.run(handle({"path": "/"}))
