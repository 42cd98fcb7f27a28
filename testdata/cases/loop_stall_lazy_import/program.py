"""The first request imports a module lazily, inside the handler, and the
module builds a table at import time: the loop stands still for a few
hundred milliseconds, once per process. loop-stall must say the loop was
importing a module (a note, with the fix "import at start-up"), not that
the handler's line blocked."""
import asyncio
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


async def handle(name):
    import report_templates  # first use: imported here, on the loop

    return report_templates.render(name)


async def main():
    for name in ("orders", "invoices", "orders"):
        print(await handle(name))


asyncio.run(main())
