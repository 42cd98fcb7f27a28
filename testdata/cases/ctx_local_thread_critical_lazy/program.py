"""Django's database connections, reduced: ConnectionHandler keeps one
connection per alias in asgiref's Local(thread_critical=True), per task or
thread by contract, made lazily (the get misses, then it sets). Requests
handled by gathered tasks each make their own; the server task later makes
its own too. Nothing is lost: that is what thread_critical is for."""
import asyncio
import sqlite3

from asgiref.local import Local


class ConnectionHandler:
    def __init__(self):
        self._connections = Local(thread_critical=True)

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
