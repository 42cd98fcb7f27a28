"""Django ticket #36863, with real parts: a WSGI-style view calls
async_to_sync twice; asgiref 3.6.0 runs each call on a new event loop (in a
new thread) and closes it afterwards. The redis.asyncio client is made once,
at module level, so the connection opened by the first call (on loop 1) is
used by the second call (on loop 2) after loop 1 closed. A real redis-server
on a free loopback port; the test starts and stops it."""
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
    SERVER.terminate()
    SERVER.wait(timeout=10)
    shutil.rmtree(WORKDIR, ignore_errors=True)
