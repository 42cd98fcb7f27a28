"""redis-py 4.3's redis.asyncio Connection.__del__ (removed upstream two
releases later): a client made on one loop and never closed is collected
while a second loop runs; __del__ schedules disconnect() on the running
loop, which closes the transport of the first, closed, loop: call_soon on a
closed loop raises inside that task, nobody sees it, and the socket leaks.
How a test suite with one loop per test meets it. A real redis-server on a
free loopback port; the program starts and stops it."""
import asyncio
import gc
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis.asyncio


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
clients = []  # a fixture's cache: outlives the test's loop


async def first_test():
    client = redis.asyncio.Redis(host="127.0.0.1", port=PORT)
    clients.append(client)
    print("ping ->", await client.ping())  # no `await client.close()`


async def second_test():
    clients.clear()  # the first loop's client is garbage now
    gc.collect()     # Connection.__del__ runs here, on this second loop
    await asyncio.sleep(0.05)
    print("second test done")


try:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(first_test())
    loop.close()
    asyncio.run(second_test())
finally:
    SERVER.terminate()
    SERVER.wait(timeout=10)
    shutil.rmtree(WORKDIR, ignore_errors=True)
