"""The twin of async_lock_abba_tasks: both tasks take the two asyncio.Locks
in the same order, so one waits (a while: the holder sleeps) and then both
finish."""
import asyncio


async def transfer(name, first, second):
    async with first:
        await asyncio.sleep(1.0)  # the other task queues on `first` meanwhile
        async with second:
            print(name, "done")


async def main():
    accounts = asyncio.Lock()
    ledger = asyncio.Lock()
    print("starting transfers")
    await asyncio.gather(
        asyncio.create_task(transfer("debit", accounts, ledger), name="debit"),
        asyncio.create_task(transfer("credit", accounts, ledger), name="credit"),
    )
    print("all done")


asyncio.run(main())
