"""Django's script prefix, reduced: set_script_prefix() stores the request's
prefix in an asgiref Local; the request is handled in a task of its own and
reads it back there. A later, independent async_to_sync call reads the
prefix and gets the default: it never was the request task's caller, so
there is nothing lost."""
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
    return await asyncio.create_task(handle_request(prefix))


async def reverse_url(name):
    return get_script_prefix() + name


print(async_to_sync(serve_one)("/app/"))
print(async_to_sync(reverse_url)("about"))
