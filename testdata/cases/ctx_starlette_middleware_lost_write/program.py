"""uvicorn + Starlette: the endpoint records the authenticated user in a
ContextVar for the audit middleware; BaseHTTPMiddleware runs the rest of the
app in an anyio task (call_next), so the middleware reads the default after
call_next returns (Starlette discussion #1729)."""
import contextvars
import http.client

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import uvicorn_harness

current_user = contextvars.ContextVar("current_user", default=None)
audit_log = []


class AuditMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        response = await call_next(request)
        audit_log.append("audit: %s by %s" % (request.url.path, current_user.get()))
        return response


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
