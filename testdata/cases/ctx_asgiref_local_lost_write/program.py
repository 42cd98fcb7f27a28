"""The asgiref.local.Local variant of Django ticket #36714: a receiver run by
asyncio.gather stores the user on a Local; Local storage follows the task, so
the view (the parent task) does not see it."""
import asyncio

from asgiref.local import Local

request_state = Local()


async def authenticate(**kwargs):
    request_state.user = "alice"


async def count_request(**kwargs):
    await asyncio.sleep(0)


async def view():
    await asyncio.gather(authenticate(), count_request())
    user = getattr(request_state, "user", None)
    print("user", user)


asyncio.run(view())
