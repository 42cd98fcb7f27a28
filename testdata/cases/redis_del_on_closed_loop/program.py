"""redis-py 4.3's redis.asyncio Connection.__del__ (removed upstream two
releases later): a client made on one loop and never closed is collected
while a second loop runs; __del__ schedules disconnect() on the running
loop, which closes the transport of the first, closed, loop: call_soon on a
closed loop raises inside that task, nobody sees it, and the socket leaks.
How a test suite with one loop per test meets it. A real redis-server on a
free loopback port; the program starts and stops it."""
import asyncio
import gc

import redis.asyncio

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import redis_server

SERVER = redis_server.RedisServer()
PORT = SERVER.port
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
    SERVER.stop()
