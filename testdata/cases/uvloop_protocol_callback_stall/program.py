"""A low-level asyncio Protocol server on uvloop whose data_received does a
blocking lookup (time.sleep standing in for a synchronous database call).
uvloop calls protocol callbacks from C, not through a Handle, but inside
the transport's contextvars.Context (Context.run), so the loop-thread
sampler tells the callback apart and finds the stall there too, named by
the protocol method."""
import asyncio
import time

import uvloop


def lookup(key):
    time.sleep(0.3)  # the blocking call
    return key.upper()


class LookupProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(lookup(data.decode().strip()).encode() + b"\n")
        self.transport.close()


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(LookupProtocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"sku-42\n")
    await writer.drain()
    print("reply:", (await reader.readline()).decode().strip())
    writer.close()
    server.close()
    await server.wait_closed()


uvloop.install()
asyncio.run(main())
