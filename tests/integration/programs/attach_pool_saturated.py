"""The negative twin of a self-starved pool for `waitgraph attach`: both
workers of a two-worker pool run slow jobs (sleeping, not waiting for the
pool), two more jobs queue behind them, and the main thread waits for the
first result. Saturated, not starved: time alone frees a worker."""
import time
from concurrent.futures import ThreadPoolExecutor

pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="slow")
jobs = [pool.submit(time.sleep, 600) for _ in range(4)]
print("submitted", flush=True)
jobs[0].result()
