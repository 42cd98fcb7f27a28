"""The twin of async_lock_abba_tasks: the same two tasks take the two
asyncio.Locks in opposite orders and wait for each other, but the caller
bounds them with asyncio.wait_for: after 3 s the timeout cancels both, the
locks are released, and the program goes on. Not a deadlock: silent."""
import asyncio


async def transfer(name, first, second):
    async with first:
        await asyncio.sleep(0.1)
        async with second:
            print(name, "done")


async def main():
    accounts = asyncio.Lock()
    ledger = asyncio.Lock()
    print("starting transfers")
    both = asyncio.gather(
        asyncio.create_task(transfer("debit", accounts, ledger), name="debit"),
        asyncio.create_task(transfer("credit", ledger, accounts), name="credit"),
    )
    try:
        await asyncio.wait_for(both, 3.0)
    except asyncio.TimeoutError:
        print("gave up after 3 s; locks free:", not accounts.locked() and not ledger.locked())


asyncio.run(main())
