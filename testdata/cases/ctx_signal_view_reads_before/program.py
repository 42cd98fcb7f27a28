"""Django ticket #36714, second shape: the view reads request_id before
sending the signal (a log line: still None), the receiver run by asend()
(asyncio.gather, as Django's Signal.asend does) sets it and reads its own
value back, and the view reads it again afterwards expecting the receiver's
value. It gets None: the write stayed in the receiver's task."""
import asyncio
import contextvars

request_id = contextvars.ContextVar("request_id", default=None)


async def assign_request_id(**kwargs):
    request_id.set("req-42")
    print("receiver sees", request_id.get())


async def count_request(**kwargs):
    await asyncio.sleep(0)


async def asend(receivers, **kwargs):
    """Signal.asend, reduced: every async receiver in a task of its own."""
    await asyncio.gather(*(receiver(**kwargs) for receiver in receivers))


async def view():
    print("view before", request_id.get())
    await asend([assign_request_id, count_request], sender="view")
    print("view after", request_id.get())


asyncio.run(view())
