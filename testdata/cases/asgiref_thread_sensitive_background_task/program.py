"""A sync view waits for a background task whose sync code needs the view's thread.

Each request runs inside asgiref's ThreadSensitiveContext (as Django's
ASGIHandler does), so sync code runs with sync_to_async(thread_sensitive=True)
on the request's one-thread executor. The checkout view saves the order and
then sends the receipt with async_to_sync: the coroutine starts the delivery
as a background task on the main loop and waits for it. The delivery writes
an audit row with sync_to_async(thread_sensitive=True).

asgiref 3.6 routes thread-sensitive calls of the async_to_sync call's own
task back to the waiting view's thread, but not those of a task it starts:
the delivery's audit write goes to the request's executor, queued behind the
view, whose only thread is the view, waiting for the delivery. Forever.
"""
import asyncio
import time

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

AUDIT_LOG = []


def write_audit_row(event):
    AUDIT_LOG.append(event)  # a sync ORM write in a real app


async def deliver_receipt(order_id):
    await asyncio.sleep(0.01)  # talk to the mail server
    await sync_to_async(write_audit_row, thread_sensitive=True)("receipt %d sent" % order_id)
    return "receipt %d" % order_id


async def send_receipt(order_id):
    delivery = asyncio.create_task(deliver_receipt(order_id))
    return await delivery


def checkout_view(order_id):
    time.sleep(0.05)  # save the order with the sync ORM
    receipt = async_to_sync(send_receipt)(order_id)
    return "order %d placed, %s" % (order_id, receipt)


async def handle_request(order_id):
    async with ThreadSensitiveContext():
        return await sync_to_async(checkout_view, thread_sensitive=True)(order_id)


async def main():
    print("checkout started", flush=True)
    print(await handle_request(1), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
