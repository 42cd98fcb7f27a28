"""One pool with enough workers for its nested jobs.

Each order job submits its billing step to the same pool and waits; the pool
has a worker for every job, outer and inner, so a nested job never queues
behind the jobs that wait for it and every order completes.
"""
import time
from concurrent.futures import ThreadPoolExecutor

ORDERS = 3
pool = ThreadPoolExecutor(max_workers=2 * ORDERS, thread_name_prefix="shop")


def charge_card(order_id):
    time.sleep(0.01)
    return "charged %d" % order_id


def place_order(order_id):
    time.sleep(0.02)  # reserve the stock
    return pool.submit(charge_card, order_id).result()


def main():
    jobs = [pool.submit(place_order, order_id) for order_id in range(1, ORDERS + 1)]
    for job in jobs:
        print(job.result(), flush=True)
    pool.shutdown()


if __name__ == "__main__":
    main()
