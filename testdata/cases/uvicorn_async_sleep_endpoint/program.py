"""The same server as uvicorn_blocking_endpoint, but /slow awaits
asyncio.sleep instead of calling time.sleep: the loop keeps serving /ping.
Negative twin of loop-stall."""
import asyncio
import http.client
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

BLOCK_S = 0.5
blocked_for = []


async def slow(request):
    start = time.monotonic()
    await asyncio.sleep(BLOCK_S)  # yields: the loop serves /ping meanwhile
    blocked_for.append(time.monotonic() - start)
    return PlainTextResponse("done")


async def ping(request):
    return PlainTextResponse("pong")


app = Starlette(routes=[Route("/slow", slow), Route("/ping", ping)])


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    start = time.monotonic()
    conn.request("GET", path)
    body = conn.getresponse().read().decode()
    conn.close()
    return body, time.monotonic() - start


def client(server, port):
    try:
        while not server.started:
            time.sleep(0.01)
        get(port, "/ping")  # warm up
        slow = threading.Thread(target=get, args=(port, "/slow"))
        slow.start()
        time.sleep(0.1)  # /slow is now blocking the loop
        body, latency = get(port, "/ping")
        slow.join()
        print("ping answered %s after %.0f ms" % (body, latency * 1000))
        print("slow waited %.3f s" % blocked_for[0])
    finally:
        server.should_exit = True


def main():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, loop="asyncio", http="h11", lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=client, args=(server, port), name="client").start()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
