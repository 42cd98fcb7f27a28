"""asgiref's sync_to_async runs the function in a copy of the context and
copies its changes back, so a ContextVar set in sync code is seen by the
async caller afterwards; explicit context sharing with create_task(context=)
propagates too (read through the shared context)."""
import asyncio
import contextvars

from asgiref.sync import sync_to_async

language = contextvars.ContextVar("language", default="en")
counter = contextvars.ContextVar("counter", default=0)


def activate(lang):
    language.set(lang)


async def inc():
    counter.set(counter.get() + 1)


async def main():
    await sync_to_async(activate)("de")
    print("language", language.get())
    ctx = contextvars.copy_context()
    for _ in range(3):
        await asyncio.create_task(inc(), context=ctx)
    print("counter", ctx.run(counter.get))


asyncio.run(main())
