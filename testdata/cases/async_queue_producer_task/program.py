"""A consumer task awaits an asyncio.Queue that a producer task fills, slowly
(each item takes a second): the consumer waits, the producer's timer wakes
the loop, everything finishes."""
import asyncio


async def produce(queue):
    for n in range(3):
        await asyncio.sleep(0.8)
        await queue.put(n)
    await queue.put(None)


async def consume(queue):
    total = 0
    while (item := await queue.get()) is not None:
        total += item
    return total


async def main():
    queue = asyncio.Queue()
    producer = asyncio.create_task(produce(queue), name="producer")
    total = await consume(queue)
    await producer
    print("consumed", total)


asyncio.run(main())
