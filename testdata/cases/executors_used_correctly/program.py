"""Thread pools used the way the documentation intends.

A thumbnail service: jobs are plain functions that never wait on their own
pool. The batch part submits and collects with Future.result(),
concurrent.futures.wait and as_completed, then shuts the pool down with
wait=True from the main thread while no event loop runs there. The async part
offloads with loop.run_in_executor and awaits (never blocks on) the futures;
its pool is shut down from a helper thread via asyncio.to_thread.
"""
import asyncio
import concurrent.futures
import hashlib
import time


def make_thumbnail(image_id):
    time.sleep(0.01)  # decode and resize
    return hashlib.sha1(b"image-%d" % image_id).hexdigest()[:8]


def batch_job():
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="thumbs")
    first = pool.submit(make_thumbnail, 0).result()

    futures = [pool.submit(make_thumbnail, i) for i in range(1, 9)]
    done, not_done = concurrent.futures.wait(futures)
    assert not not_done

    more = [pool.submit(make_thumbnail, i) for i in range(9, 17)]
    collected = [f.result() for f in concurrent.futures.as_completed(more)]

    pool.shutdown(wait=True)
    return 1 + len(done) + len(collected), first


async def serve_thumbnails():
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=3, thread_name_prefix="async-thumbs")
    results = await asyncio.gather(
        *(loop.run_in_executor(pool, make_thumbnail, i) for i in range(20))
    )
    checksum = await loop.run_in_executor(None, make_thumbnail, 99)  # default executor
    await asyncio.to_thread(pool.shutdown, wait=True)  # shutdown off the loop thread
    return len(results) + 1, checksum


def main():
    count, _ = batch_job()
    served, _ = asyncio.run(serve_thumbnails())
    print("batch made", count, "thumbnails; async served", served, flush=True)


if __name__ == "__main__":
    main()
