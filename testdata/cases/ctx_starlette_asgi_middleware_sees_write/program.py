"""Negative twin of ctx_starlette_middleware_lost_write: the audit middleware
is a pure ASGI middleware, which awaits the app in its own context, so it sees
the user the endpoint set."""
import contextvars
import http.client

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import uvicorn_harness

current_user = contextvars.ContextVar("current_user", default=None)
audit_log = []


class AuditMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            audit_log.append("audit: %s by %s" % (scope["path"], current_user.get()))


async def orders(request):
    current_user.set("alice")
    return PlainTextResponse("orders")


app = Starlette(routes=[Route("/orders", orders)], middleware=[Middleware(AuditMiddleware)])


def client(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/orders")
    print("client got:", conn.getresponse().read().decode(), flush=True)
    conn.close()


def main():
    uvicorn_harness.serve(app, client)
    print("\n".join(audit_log))


if __name__ == "__main__":
    main()
