"""The same management command, structured so the view never waits on the loop.

The sync view only saves the order and returns; the async command then
starts the receipt delivery as a background task and awaits it. The
delivery's thread-sensitive audit write comes back to the main thread's
CurrentThreadExecutor, which is free to run it by then.
"""
import asyncio
import time

from asgiref.sync import async_to_sync, sync_to_async

AUDIT_LOG = []


def write_audit_row(event):
    AUDIT_LOG.append(event)  # a sync ORM write in a real app


async def deliver_receipt(order_id):
    await asyncio.sleep(0.01)  # talk to the mail server
    await sync_to_async(write_audit_row, thread_sensitive=True)("receipt %d sent" % order_id)
    return "receipt %d" % order_id


def checkout_view(order_id):
    time.sleep(0.05)  # save the order with the sync ORM
    return "order %d placed" % order_id


async def command():
    print("checkout started", flush=True)
    page = await sync_to_async(checkout_view, thread_sensitive=True)(1)
    delivery = asyncio.create_task(deliver_receipt(1))
    print("%s, %s" % (page, await delivery), flush=True)
    print("audit:", AUDIT_LOG, flush=True)


if __name__ == "__main__":
    async_to_sync(command)()
