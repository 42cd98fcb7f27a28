"""Negative twin of uvicorn_async_lock_abba: the same server and requests,
but both endpoints take the two asyncio.Locks in one order. Both requests
finish, the server shuts down, and the snapshots taken while uvicorn's loop
ticked idle must report nothing."""
import asyncio
import http.client
import threading
import time

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import uvicorn_harness

accounts = asyncio.Lock()
ledger = asyncio.Lock()


async def transfer(first, second):
    async with first:
        await asyncio.sleep(0.1)  # let the other request take its first lock
        async with second:
            return PlainTextResponse("done")


async def debit(request):
    return await transfer(accounts, ledger)


async def credit(request):
    return await transfer(accounts, ledger)  # the same order


app = Starlette(routes=[Route("/debit", debit), Route("/credit", credit)])


answers = []


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    answers.append(conn.getresponse().read().decode())
    conn.close()


def client(port):
    print("starting transfers", flush=True)
    requests = [threading.Thread(target=get, args=(port, p), daemon=True)
                for p in ("/debit", "/credit")]
    for r in requests:
        r.start()
    for r in requests:
        r.join()
    print("%d transfers %s" % (len(answers), " and ".join(answers)), flush=True)
    time.sleep(1.5)  # idle a while: the ticking loop is snapshotted


def main():
    uvicorn_harness.serve(app, client, daemon=True)


if __name__ == "__main__":
    main()
