"""Negative twin of redis_client_across_async_to_sync: the same WSGI-style
view calls async_to_sync twice (two loops), but each call makes its own
redis.asyncio client on its own loop and closes it there. Nothing crosses:
waitgraph must stay silent. A real redis-server on a free loopback port."""
import redis.asyncio
from asgiref.sync import async_to_sync

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import redis_server

SERVER = redis_server.RedisServer()
PORT = SERVER.port

def new_client():
    return redis.asyncio.Redis(host="127.0.0.1", port=PORT)


async def remember(key, value):
    cache = new_client()  # per call: made, used and closed on this call's loop
    try:
        await cache.set(key, value)
    finally:
        await cache.close()


async def recall(key):
    cache = new_client()
    try:
        return await cache.get(key)
    finally:
        await cache.close()


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
