"""Django ticket #36863, with real parts: a WSGI-style view calls
async_to_sync twice; asgiref 3.6.0 runs each call on a new event loop (in a
new thread) and closes it afterwards. The redis.asyncio client is made once,
at module level, so the connection opened by the first call (on loop 1) is
used by the second call (on loop 2) after loop 1 closed. A real redis-server
on a free loopback port; the test starts and stops it."""
import redis.asyncio
from asgiref.sync import async_to_sync

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import redis_server

SERVER = redis_server.RedisServer()
PORT = SERVER.port

cache = redis.asyncio.Redis(host="127.0.0.1", port=PORT)  # module level: shared by every call


async def remember(key, value):
    await cache.set(key, value)


async def recall(key):
    return await cache.get(key)


def view(user):
    """A synchronous (WSGI) view calling async code twice."""
    async_to_sync(remember)("greeting:" + user, "hello " + user)
    try:
        value = async_to_sync(recall)("greeting:" + user)
        return value.decode() if value else "(missing)"
    except Exception as e:  # the symptom, if any, is far from the cause
        return "failed: %s" % type(e).__name__


try:
    print("view ->", view("ada"))
finally:
    SERVER.stop()
