"""The asgiref 3.6.0 cancelled-request deadlock (asgiref_cancelled_request_deadlock)
on uvloop's event loop (uvloop.install(), as uvicorn does by default when
uvloop is installed). uvloop's callbacks and tasks are C and out of the
shim's sight, but the deadlock goes through threads, an executor, a future
handed to the loop and the thread running the loop, all of which are
still recorded: it must be found, and the report must say what uvloop hid.

A request whose client disconnects while sync middleware is running.

An ASGI-style handler runs each request inside asgiref's
ThreadSensitiveContext (as Django's ASGIHandler does), so sync middleware
runs on a request-scoped, one-worker executor. The middleware loads the
session (slow, sync) and then calls the async view back with async_to_sync.

The client goes away first: the request task is cancelled, so
ThreadSensitiveContext.__aexit__ runs executor.shutdown() -- wait=True -- on
the event-loop thread. The worker then finishes the session load and hands
the view to the loop with call_soon_threadsafe, and waits in
CurrentThreadExecutor.run_until_future for a result only the loop can
produce. The loop is blocked joining that worker: deadlock (asgiref 3.6.0,
see asgiref PR #560).
"""
import asyncio
import time

import uvloop
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async


async def order_view(request):
    await asyncio.sleep(0.01)  # render the page
    return {"status": 200, "body": "orders for " + request["user"]}


def session_middleware(request):
    time.sleep(0.4)  # slow session lookup in a sync database driver
    request["user"] = "alice"
    return async_to_sync(order_view)(request)


async def handle_request(request):
    async with ThreadSensitiveContext():
        return await sync_to_async(session_middleware)(request)


async def main():
    request = {"path": "/orders/"}
    task = asyncio.create_task(handle_request(request))
    await asyncio.sleep(0.1)
    print("client disconnected; cancelling", request["path"], flush=True)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print("request cancelled cleanly", flush=True)


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main())
