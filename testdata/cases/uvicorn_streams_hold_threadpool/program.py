"""Long streams hold Starlette's threadpool (agent-runtime PR 273 review):
each /stream response is a sync generator that Starlette iterates in anyio's
threadpool (iterate_in_threadpool), and each next() blocks on a
queue.Queue bridge until a producer thread (an LLM, say) delivers the next
chunk. With the limiter at 2 tokens (anyio's default is 40; the app lowers
it at startup so two streams are enough), two open streams hold both tokens
and a plain /sync request queues behind them until a chunk arrives."""
import http.client
import queue
import threading
import time

import anyio.to_thread
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import uvicorn_harness

FIRST_CHUNK_S = 1.0  # time to first token
CHUNKS = 3
streams_waiting = threading.Semaphore(0)  # released when a stream holds a worker


def produce(chunks):
    time.sleep(FIRST_CHUNK_S)
    for i in range(CHUNKS):
        chunks.put("chunk %d\n" % i)
        time.sleep(0.05)
    chunks.put(None)


def stream_chunks(chunks):
    streams_waiting.release()  # runs in a threadpool worker, holding a token
    while True:
        chunk = chunks.get()  # holds a threadpool token while it waits
        if chunk is None:
            return
        yield chunk


async def stream(request):
    chunks = queue.Queue()
    threading.Thread(target=produce, args=(chunks,), name="producer").start()
    return StreamingResponse(stream_chunks(chunks))


def sync_page(request):
    return PlainTextResponse("ok")


def limit_threadpool():
    anyio.to_thread.current_default_thread_limiter().total_tokens = 2


app = Starlette(routes=[Route("/stream", stream), Route("/sync", sync_page)],
                on_startup=[limit_threadpool])


def get(port, path, out=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    start = time.monotonic()
    conn.request("GET", path)
    body = conn.getresponse().read().decode()
    conn.close()
    if out is not None:
        out.append(body)
    return body, time.monotonic() - start


def client(port):
    bodies = []
    streams = [threading.Thread(target=get, args=(port, "/stream", bodies)) for _ in range(2)]
    for t in streams:
        t.start()
    for _ in streams:  # both streams wait for their first chunk, holding both tokens
        streams_waiting.acquire(timeout=10)
    body, latency = get(port, "/sync")
    for t in streams:
        t.join()
    print("streams got %d chunks; /sync answered %s after %.0f ms" % (
        sum(b.count("chunk") for b in bodies), body, latency * 1000))


def main():
    uvicorn_harness.serve(app, client, lifespan="on")


if __name__ == "__main__":
    main()
