"""The other side of ctx_local_read_by_later_call: the request task's creator
itself, still running, reads the script prefix after awaiting the task and
gets the default: the write stayed in the task's own Local storage."""
import asyncio

from asgiref.local import Local
from asgiref.sync import async_to_sync

_prefixes = Local()


def set_script_prefix(prefix):
    _prefixes.value = prefix


def get_script_prefix():
    return getattr(_prefixes, "value", "/")


async def handle_request(prefix):
    set_script_prefix(prefix)
    return "handled under " + get_script_prefix()


async def serve_one(prefix):
    handled = await asyncio.create_task(handle_request(prefix))
    return handled + ", links under " + get_script_prefix()


async def reverse_url(name):
    return get_script_prefix() + name


print(async_to_sync(serve_one)("/app/"))
print(async_to_sync(reverse_url)("about"))
