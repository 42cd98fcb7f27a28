"""An asyncio TCP service on uvloop (uvloop.install()) whose handler calls
time.sleep, blocking the loop, and hands a lookup to the loop's default
executor with run_in_executor. uvloop runs callbacks in C, so the shim
cannot time them: the stall is found by sampling the loop thread
(native/loop_thread_sampler.h), and the note says loop-stall sampled it.
The executor work is recorded too."""
import asyncio
import time

import uvloop


def lookup(key):
    return key.upper()


async def handle(reader, writer):
    key = (await reader.readline()).decode().strip()
    time.sleep(0.4)  # the blocking call
    value = await asyncio.get_running_loop().run_in_executor(None, lookup, key)
    writer.write(value.encode() + b"\n")
    await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"order-7\n")
    await writer.drain()
    print("reply:", (await reader.readline()).decode().strip())
    writer.close()
    server.close()
    await server.wait_closed()


uvloop.install()
asyncio.run(main())
