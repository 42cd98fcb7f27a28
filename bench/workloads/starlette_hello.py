"""Starlette hello-world app for bench/uvicorn_wrk.py (served by uvicorn on
the asyncio loop with h11, as Debian ships them)."""
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request):
    return PlainTextResponse("Hello, world!")


app = Starlette(routes=[Route("/", hello)])
