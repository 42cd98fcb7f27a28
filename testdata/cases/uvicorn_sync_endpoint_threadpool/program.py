"""The same server as uvicorn_blocking_endpoint, but /slow is a plain
`def` endpoint: Starlette runs it (and its time.sleep) in anyio's
threadpool, so the loop keeps serving /ping; a few concurrent /slow calls
stay far below the threadpool's 40 tokens. Negative twin of loop-stall and
executor-saturation."""
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


def report():
    start = time.monotonic()
    time.sleep(BLOCK_S)  # the blocking call
    blocked_for.append(time.monotonic() - start)


def slow(request):
    report()  # a plain def endpoint: Starlette runs it in its threadpool
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
        slows = [threading.Thread(target=get, args=(port, "/slow")) for _ in range(3)]
        for t in slows:
            t.start()
        time.sleep(0.1)  # the /slow calls sleep in worker threads
        body, latency = get(port, "/ping")
        for t in slows:
            t.join()
        print("ping answered %s after %.0f ms" % (body, latency * 1000))
        print("report() blocked for %.3f s" % blocked_for[0])
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
