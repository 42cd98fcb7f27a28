"""The other side of ctx_local_thread_critical_lazy: the same lazily filled
cache in a plain asgiref Local(), which promises to pass values between a
task and the code it calls. The server task never sees what the request
tasks made: a lost write, as for any Local attribute."""
import asyncio
import sqlite3

from asgiref.local import Local


class ConnectionHandler:
    def __init__(self):
        self._connections = Local()

    def __getitem__(self, alias):
        try:
            return getattr(self._connections, alias)
        except AttributeError:
            conn = sqlite3.connect(":memory:")
            setattr(self._connections, alias, conn)
            return conn


connections = ConnectionHandler()


async def handle(n):
    cursor = connections["default"].execute("select ?", (n,))
    return cursor.fetchone()[0]


async def serve():
    print("handled", await asyncio.gather(handle(1), handle(2)))
    print("server reads", connections["default"].execute("select 'own'").fetchone()[0])


asyncio.run(serve())
