"""A token made in a child task's context is reset in the parent: reset
raises ValueError (caught and logged, as OpenTelemetry does), and the var
keeps its value."""
import asyncio
import contextvars

current_user = contextvars.ContextVar("current_user", default=None)


async def login():
    return current_user.set("alice")


async def main():
    token = await asyncio.create_task(login())
    try:
        current_user.reset(token)
    except ValueError:
        print("failed to detach context")


asyncio.run(main())
