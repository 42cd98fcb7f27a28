"""The same server as uvicorn_blocking_endpoint, but /slow is a plain
`def` endpoint: Starlette runs it (and its time.sleep) in anyio's
threadpool, so the loop keeps serving /ping; a few concurrent /slow calls
stay far below the threadpool's 40 tokens. Negative twin of loop-stall and
executor-saturation."""
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


def slow(request):
    report()  # a plain def endpoint: Starlette runs it in its threadpool
    return PlainTextResponse("done")


async def ping(request):
    return PlainTextResponse("pong")


app = Starlette(routes=[Route("/slow", slow), Route("/ping", ping)])


def client(port):
    body, latency = uvicorn_harness.ping_while_slow(port, parallel=3)
    print("ping answered %s after %.0f ms" % (body, latency * 1000))
    print("report() blocked for %.3f s" % blocked_for[0])


if __name__ == "__main__":
    uvicorn_harness.serve(app, client)
