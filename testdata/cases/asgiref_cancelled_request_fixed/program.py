"""The cancelled request of asgiref_cancelled_request_deadlock, with the fix
proposed in asgiref PR #560 applied: leaving the ThreadSensitiveContext shuts
its executor down with wait=False, cancel_futures=True instead of joining the
worker on the event-loop thread.

The client disconnects while the sync middleware runs; the request task is
cancelled and the loop is free at once. The server keeps serving: the
middleware finishes in the background and its async_to_sync callback runs on
the (free) main loop, and a health check is served meanwhile. Nothing waits
in a cycle, and the loop never blocks on a worker.
"""
import asyncio
import time

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, async_to_sync, sync_to_async


class CancellingThreadSensitiveContext(ThreadSensitiveContext):
    """ThreadSensitiveContext with PR #560's cancel_futures_on_exit=True."""

    async def __aexit__(self, exc, value, tb):
        if not self.token:
            return
        executor = SyncToAsync.context_to_thread_executor.pop(self, None)
        if executor:
            executor.shutdown(wait=False, cancel_futures=True)
        SyncToAsync.thread_sensitive_context.reset(self.token)


async def order_view(request):
    await asyncio.sleep(0.01)  # render the page
    return {"status": 200, "body": "orders for " + request["user"]}


def session_middleware(request):
    time.sleep(0.4)  # slow session lookup in a sync database driver
    request["user"] = "alice"
    response = async_to_sync(order_view)(request)
    print("middleware finished after the disconnect:", response["status"], flush=True)
    return response


def health_check(request):
    return {"status": 200, "body": "ok"}


async def handle_request(request, handler=session_middleware):
    async with CancellingThreadSensitiveContext():
        return await sync_to_async(handler)(request)


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
    health = await handle_request({"path": "/health/"}, health_check)
    print("health check:", health["status"], flush=True)
    await asyncio.sleep(0.5)  # keep serving while the abandoned middleware finishes


if __name__ == "__main__":
    asyncio.run(main())
