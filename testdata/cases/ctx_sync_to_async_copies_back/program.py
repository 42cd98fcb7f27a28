"""asgiref's sync_to_async runs the function in a copy of the context and
copies its changes back, so a ContextVar set in sync code is seen by the
async caller afterwards; explicit context sharing with create_task(context=)
propagates too (read through the shared context); async_to_sync copies back
the coroutine's changes to the sync caller."""
import asyncio
import contextvars

from asgiref.sync import async_to_sync, sync_to_async

language = contextvars.ContextVar("language", default="en")
counter = contextvars.ContextVar("counter", default=0)
timezone = contextvars.ContextVar("timezone", default="UTC")


def activate(lang):
    language.set(lang)


async def activate_timezone(name):
    timezone.set(name)


def sync_view():
    # async_to_sync copies the coroutine's context changes back, too.
    async_to_sync(activate_timezone)("Europe/Berlin")
    return timezone.get()


async def inc():
    counter.set(counter.get() + 1)


async def main():
    await sync_to_async(activate)("de")
    print("language", language.get())
    ctx = contextvars.copy_context()
    for _ in range(3):
        await asyncio.create_task(inc(), context=ctx)
    print("counter", ctx.run(counter.get))
    print("timezone", await sync_to_async(sync_view)(), timezone.get())


asyncio.run(main())
