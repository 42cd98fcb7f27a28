"""The same checkout, structured so that thread-sensitive code never waits on the loop.

The sync view only saves the order and returns; the async request handler
then starts the receipt delivery as a background task and awaits it. The
delivery's thread-sensitive audit write runs on the request's thread, which
is free by then. No async_to_sync inside thread-sensitive code, no cycle.
"""
import asyncio
import time

from asgiref.sync import ThreadSensitiveContext, sync_to_async

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


async def handle_request(order_id):
    async with ThreadSensitiveContext():
        page = await sync_to_async(checkout_view, thread_sensitive=True)(order_id)
        delivery = asyncio.create_task(deliver_receipt(order_id))
        return "%s, %s" % (page, await delivery)


async def main():
    print("checkout started", flush=True)
    print(await handle_request(1), flush=True)
    print("audit:", AUDIT_LOG, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
