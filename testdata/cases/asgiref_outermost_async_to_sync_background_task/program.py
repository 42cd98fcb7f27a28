"""The thread-sensitive hang under the outermost async_to_sync (a management command).

A Django-style management command runs its async entry point with
async_to_sync from the main thread, so asgiref runs the event loop in a
helper thread and every thread-sensitive sync call on that loop comes back
to the main thread (its CurrentThreadExecutor). The sync checkout view runs
there and sends the receipt with async_to_sync: the coroutine starts the
delivery as a background task and waits for it. The delivery's
sync_to_async(thread_sensitive=True) audit write goes to the main thread's
outer CurrentThreadExecutor, which only runs work when the main thread is
back in its own loop -- but the main thread is the view, waiting for the
delivery. Forever (asgiref 3.6.0).
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


async def send_receipt(order_id):
    delivery = asyncio.create_task(deliver_receipt(order_id))
    return await delivery


def checkout_view(order_id):
    time.sleep(0.05)  # save the order with the sync ORM
    receipt = async_to_sync(send_receipt)(order_id)
    return "order %d placed, %s" % (order_id, receipt)


async def command():
    print("checkout started", flush=True)
    print(await sync_to_async(checkout_view, thread_sensitive=True)(1), flush=True)


if __name__ == "__main__":
    async_to_sync(command)()
