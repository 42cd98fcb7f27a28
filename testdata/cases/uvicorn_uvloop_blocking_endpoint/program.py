"""uvicorn_blocking_endpoint on uvicorn's uvloop loop (--loop uvloop, its
default when uvloop is installed): uvloop runs callbacks in C, out of the
shim's sight, so the stall is found by sampling the loop thread, and the
report says what uvloop still hides (a note naming uvloop and the checks it
disables) instead of a silence that looks like health.

A Starlette app on a real uvicorn server (127.0.0.1, a free port): the
async endpoint /slow calls report(), which calls time.sleep -- blocking the
event loop -- while a client asks /ping. The client prints how long /ping
took and how long report() really blocked. (agent-runtime PR 273: /ping
stops answering and the container is killed.)"""
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


async def slow(request):
    report()
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
        print("report() blocked for %.3f s" % blocked_for[0])
    finally:
        server.should_exit = True


def main():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, loop="uvloop", http="h11", lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=client, args=(server, port), name="client").start()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
