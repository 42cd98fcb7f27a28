"""The plumbing the uvicorn case programs share: a real uvicorn server on
127.0.0.1 (a free port the program picks), a client thread that talks to it
and stops it, and plain HTTP requests. Each case program keeps the bug it
shows (its app and what its client asks); it puts this directory on
sys.path itself (two lines at its top), so `waitgraph run -- python3
testdata/cases/X/program.py` works from any directory."""
import http.client
import socket
import threading
import time

import uvicorn


def get(port, path, timeout=10):
    """GET `path`: (body, seconds it took)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.monotonic()
    conn.request("GET", path)
    body = conn.getresponse().read().decode()
    conn.close()
    return body, time.monotonic() - start


def ping_while_slow(port, parallel=1):
    """Asks /slow `parallel` times at once and, while those run, /ping:
    (ping's body, ping's latency)."""
    get(port, "/ping")  # warm up
    slows = [threading.Thread(target=get, args=(port, "/slow")) for _ in range(parallel)]
    for t in slows:
        t.start()
    time.sleep(0.1)  # the /slow requests are in their endpoint now
    body, latency = get(port, "/ping")
    for t in slows:
        t.join()
    return body, latency


def serve(app, client, loop="asyncio", lifespan="off", daemon=False):
    """Runs `app` on uvicorn (h11) until client(port), called on a thread
    named "client" once the server has started, returns or raises."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, loop=loop, http="h11", lifespan=lifespan, log_level="warning")
    server = uvicorn.Server(config)

    def run_client():
        try:
            while not server.started:
                time.sleep(0.01)
            client(port)
        finally:
            server.should_exit = True

    threading.Thread(target=run_client, name="client", daemon=daemon).start()
    server.run(sockets=[sock])
