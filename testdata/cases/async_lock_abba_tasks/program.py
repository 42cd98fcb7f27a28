"""Two asyncio tasks take two asyncio.Locks in opposite orders: each holds
one and waits for the other, forever. The loop sits idle; nothing raises."""
import asyncio


async def transfer(name, first, second):
    async with first:
        await asyncio.sleep(0.1)  # let the other task take its first lock
        async with second:
            print(name, "done")


async def main():
    accounts = asyncio.Lock()
    ledger = asyncio.Lock()
    print("starting transfers")
    await asyncio.gather(
        asyncio.create_task(transfer("debit", accounts, ledger), name="debit"),
        asyncio.create_task(transfer("credit", ledger, accounts), name="credit"),
    )


asyncio.run(main())
