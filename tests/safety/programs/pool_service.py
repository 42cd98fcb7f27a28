"""A busy asyncio service with a thread pool, to measure what `waitgraph run`
itself keeps while it follows the trace (issue 13 item 8).

It listens on 127.0.0.1 (a port the OS picks), and CLIENTS connections of
its own send REQUESTS requests in all, one line each. The server makes a
task per request (a copy of the context each), which sets and reads five
ContextVars, runs blocking work on the loop's default thread pool
(run_in_executor, no context copy, the work reads no var) and through
asyncio.to_thread (a copy, the work reads the request id), and answers.

With --lost-write, one request in every 1,000 also runs a helper task that
sets `user` in its own copy of the context, which the request then reads
and finds unset: a real lost-context-write among many clean requests.

Prints "warm" once the first WARM requests are answered and waits for a
line on stdin, prints "done N" when all are answered and waits for another
line before it exits (so a test can read the watcher's memory at both points
once it has caught up with the trace), then the digest. With --progress N,
prints "served K" after every N requests answered (without waiting).

usage: pool_service.py REQUESTS [--clients N] [--warm N] [--lost-write] [--progress N]
"""
import argparse
import asyncio
import contextvars
import sys

request_id = contextvars.ContextVar("request_id")
user = contextvars.ContextVar("user", default=None)
# What a web framework keeps per request (tracing span, locale, tenant...).
request_vars = [contextvars.ContextVar("request_var_%d" % i, default=0) for i in range(4)]


def blocking_work(n):
    return sum(range(n % 50))


def work_in_copy(n):
    return n + request_id.get()


async def set_user(i):
    user.set("user-%d" % i)  # lost: this task runs in its own copy


async def handle(i, lost_write):
    request_id.set(i)
    for n, var in enumerate(request_vars):
        var.set(i + n)
    i += sum(var.get() for var in request_vars) - 4 * i - 6
    a = await asyncio.get_running_loop().run_in_executor(None, blocking_work, i)
    b = await asyncio.to_thread(work_in_copy, 1)
    if lost_write and i % 1000 == 7:
        await asyncio.create_task(set_user(i))
        seen = user.get()
        return a + b + (seen is None)
    return a + b + request_id.get()


served = 0


async def serve_connection(reader, writer, lost_write, progress):
    global served
    while True:
        line = await reader.readline()
        if not line:
            break
        result = await asyncio.create_task(handle(int(line), lost_write))
        writer.write(b"%d\n" % result)
        served += 1
        if progress and served % progress == 0:
            print("served %d" % served, flush=True)
    writer.close()


async def client(port, numbers):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    total = 0
    for i in numbers:
        writer.write(b"%d\n" % i)
        total += int(await reader.readline())
    writer.close()
    await writer.wait_closed()
    return total


async def main(args):
    server = await asyncio.start_server(
        lambda r, w: serve_connection(r, w, args.lost_write, args.progress), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    warm = min(args.warm, args.requests)
    digest = sum(await asyncio.gather(
        *(client(port, range(c, warm, args.clients)) for c in range(args.clients))))
    print("warm", flush=True)
    # Paused until a line on stdin: a watcher behind the trace catches up.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    digest += sum(await asyncio.gather(
        *(client(port, range(warm + c, args.requests, args.clients)) for c in range(args.clients))))
    print("done %d" % args.requests, flush=True)
    server.close()
    await server.wait_closed()
    return digest


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("requests", type=int)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--warm", type=int, default=5000)
    parser.add_argument("--lost-write", action="store_true")
    parser.add_argument("--progress", type=int, default=0)
    args = parser.parse_args()
    digest = asyncio.run(main(args))
    sys.stdin.readline()
    print("digest %d" % digest)
