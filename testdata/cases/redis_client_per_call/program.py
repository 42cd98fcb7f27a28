"""Negative twin of redis_client_across_async_to_sync: the same WSGI-style
view calls async_to_sync twice (two loops), but each call makes its own
redis.asyncio client on its own loop and closes it there. Nothing crosses:
waitgraph must stay silent. A real redis-server on a free loopback port."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis.asyncio
from asgiref.sync import async_to_sync


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port, workdir):
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("redis-server did not start")


PORT = free_port()
WORKDIR = tempfile.mkdtemp(prefix="wg-redis-")
SERVER = start_redis(PORT, WORKDIR)

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
    SERVER.terminate()
    SERVER.wait(timeout=10)
    shutil.rmtree(WORKDIR, ignore_errors=True)
