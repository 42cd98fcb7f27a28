"""A sync program talking to an async client library through a background loop.

The event loop runs in its own thread; the main thread submits coroutines
with run_coroutine_threadsafe and blocks on .result(). That is safe: the
loop's thread never waits for the main thread, so the waits cannot close a
cycle. At the end the loop is stopped from the main thread and its thread
joined.
"""
import asyncio
import threading


class BackgroundLoop:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="io-loop")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self):
        self.thread.start()

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


async def fetch_price(symbol):
    await asyncio.sleep(0.02)  # network round trip
    return {"AAPL": 190, "MSFT": 410, "GOOG": 170}[symbol]


async def fetch_all(symbols):
    return await asyncio.gather(*(fetch_price(s) for s in symbols))


def main():
    io = BackgroundLoop()
    io.start()
    total = 0
    for symbol in ("AAPL", "MSFT", "GOOG"):
        total += io.call(fetch_price(symbol))
    total += sum(io.call(fetch_all(["AAPL", "MSFT"])))
    io.close()
    print("portfolio value", total, flush=True)


if __name__ == "__main__":
    main()
