"""Django ticket #36863: under WSGI every async_to_sync call (asgiref 3.6.0,
no running loop) makes a new event loop in a new thread and closes it. A
request that calls async code once per item churns through loops."""
from asgiref.sync import async_to_sync


async def price_of(item):
    return len(item) * 10


def view(items):  # a synchronous (WSGI) view
    return sum(async_to_sync(price_of)(item) for item in items)


print("total", view(["tea", "bread", "jam", "milk", "eggs", "rice"]))
