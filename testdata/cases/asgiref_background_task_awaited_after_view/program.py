"""The same view, structured so that it never waits for the delivery.

The checkout view saves the order and starts the receipt delivery as a
background task with async_to_sync, but returns without waiting for it; the
request handler awaits the delivery after the view has returned. The
delivery's thread-sensitive audit write queues behind the view for a moment,
then runs on the request's thread once the view is done.
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


async def start_receipt(order_id):
    return asyncio.create_task(deliver_receipt(order_id))


def checkout_view(order_id):
    time.sleep(0.05)  # save the order with the sync ORM
    delivery = async_to_sync(start_receipt)(order_id)
    time.sleep(0.05)  # render the confirmation page
    return "order %d placed" % order_id, delivery


async def handle_request(order_id):
    async with ThreadSensitiveContext():
        page, delivery = await sync_to_async(checkout_view, thread_sensitive=True)(order_id)
        return "%s, %s" % (page, await delivery)


async def main():
    print("checkout started", flush=True)
    print(await handle_request(1), flush=True)
    print("audit:", AUDIT_LOG, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
