"""A Starlette app on a real uvicorn server (127.0.0.1, a free port): the
async endpoint /slow calls report(), which calls time.sleep -- blocking the
event loop -- while a client asks /ping. The client prints how long /ping
took and how long report() really blocked. (agent-runtime PR 273: /ping
stops answering and the container is killed.)"""
import time

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import uvicorn_harness

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


def client(port):
    body, latency = uvicorn_harness.ping_while_slow(port)
    print("ping answered %s after %.0f ms" % (body, latency * 1000))
    print("report() blocked for %.3f s" % blocked_for[0])


if __name__ == "__main__":
    uvicorn_harness.serve(app, client)
