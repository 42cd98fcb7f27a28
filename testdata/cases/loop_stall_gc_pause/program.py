"""A small asyncio service whose requests each add a few thousand objects
to an in-memory cache, over a large set of long-lived objects. No request
blocks: each handler runs for milliseconds. But once enough objects have
been promoted since the last full collection, CPython's cyclic garbage
collector runs a full (generation 2) collection over every live container,
inside whichever callback happened to allocate at that moment: the loop
stalls for a few hundred milliseconds on a line that did nothing wrong.
loop-stall must call that a garbage collection pause (generation 2), not
blame the line, and not warn."""
import asyncio


class Node:
    __slots__ = ("value", "children")

    def __init__(self, value):
        self.value = value
        self.children = []


# Long-lived state: a full collection has to traverse all of it.
INDEX = [Node(i) for i in range(900_000)]
CACHE = []
REQUESTS = 40
PER_REQUEST = 8_000


async def handle(reader, writer):
    line = await reader.readline()
    n = int(line)
    CACHE.append([Node(n * PER_REQUEST + i) for i in range(PER_REQUEST)])
    writer.write(b"%d\n" % len(CACHE))
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def request(port, n):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"%d\n" % n)
    await writer.drain()
    reply = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(reply)


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for n in range(REQUESTS):
        await request(port, n)
    server.close()
    await server.wait_closed()
    print("served %d requests, cache of %d entries" % (REQUESTS, len(CACHE)))


asyncio.run(main())
