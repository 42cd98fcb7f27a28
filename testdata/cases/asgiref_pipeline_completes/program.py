"""The same request pipeline as asgiref_cancelled_request_deadlock, but no
client disconnects, so every request completes.

Each request runs inside asgiref's ThreadSensitiveContext; sync middleware
runs on the context's one-worker executor and calls the async view back with
async_to_sync; on the way out ThreadSensitiveContext.__aexit__ joins that
worker (executor.shutdown(wait=True)) on the event-loop thread. The worker is
idle by then, so nothing hangs -- but the two waits that would form the cycle
(loop thread joins the worker; the worker waits for the loop) both occur,
just never at the same time. A cancellation at the wrong moment would
deadlock it.
"""
import asyncio
import time

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async


async def order_view(request):
    await asyncio.sleep(0.01)  # render the page
    return {"status": 200, "body": "orders for " + request["user"]}


def session_middleware(request):
    time.sleep(0.05)  # session lookup in a sync database driver
    request["user"] = "alice"
    return async_to_sync(order_view)(request)


async def handle_request(request):
    async with ThreadSensitiveContext():
        return await sync_to_async(session_middleware)(request)


async def main():
    statuses = []
    for path in ("/orders/", "/orders/42/", "/orders/43/"):
        response = await handle_request({"path": path})
        statuses.append(response["status"])
    print("served", len(statuses), "requests:", statuses, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
