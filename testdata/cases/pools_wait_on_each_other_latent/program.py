"""The same two pools, the two nestings at different times: no hang today.

Placing an order waits on the billing pool from the orders pool; later a
refund waits on the orders pool from the billing pool. Each wait blocks for
a moment (the payment provider, the inventory) and completes, because the
other pool's worker was free at the time. Had an order and a
refund overlapped, each worker would wait for the other: a latent deadlock.
"""
import time
from concurrent.futures import ThreadPoolExecutor

orders = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orders")
billing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="billing")


def charge_card(order_id):
    time.sleep(0.01)  # call the payment provider
    return "charged %d" % order_id


def restock(order_id):
    time.sleep(0.01)  # update the inventory
    return "restocked %d" % order_id


def place_order(order_id):
    time.sleep(0.01)  # reserve the stock
    return billing.submit(charge_card, order_id).result()


def issue_refund(order_id):
    time.sleep(0.01)  # reverse the payment
    return orders.submit(restock, order_id).result()


def main():
    print(orders.submit(place_order, 1).result(), flush=True)
    print(billing.submit(issue_refund, 2).result(), flush=True)
    orders.shutdown()
    billing.shutdown()


if __name__ == "__main__":
    main()
