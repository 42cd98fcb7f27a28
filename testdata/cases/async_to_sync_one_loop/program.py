"""Negative twin of async_to_sync_loop_churn: the same view enters async code
once, with one async_to_sync around the whole request: one loop. Silent."""
from asgiref.sync import async_to_sync


async def price_of(item):
    return len(item) * 10


async def total_of(items):
    return sum([await price_of(item) for item in items])


def view(items):  # a synchronous (WSGI) view
    return async_to_sync(total_of)(items)


print("total", view(["tea", "bread", "jam", "milk", "eggs", "rice"]))
