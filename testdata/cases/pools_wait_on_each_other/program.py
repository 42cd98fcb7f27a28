"""Two single-worker pools whose jobs wait on each other.

An order service keeps one worker for orders and one for billing (each a
"serialize this kind of work" pool). Placing an order charges the card on
the billing pool and waits for it; issuing a refund restocks the item on the
orders pool and waits for it. An order and a refund arrive together: the
orders worker waits for billing, whose only worker waits for orders. Neither
pool starves itself; each starves the other, forever.
"""
import time
from concurrent.futures import ThreadPoolExecutor

orders = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orders")
billing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="billing")


def charge_card(order_id):
    return "charged %d" % order_id


def restock(order_id):
    return "restocked %d" % order_id


def place_order(order_id):
    time.sleep(0.05)  # reserve the stock
    return billing.submit(charge_card, order_id).result()


def issue_refund(order_id):
    time.sleep(0.05)  # reverse the payment
    return orders.submit(restock, order_id).result()


def main():
    order = orders.submit(place_order, 1)
    refund = billing.submit(issue_refund, 2)
    print("order and refund submitted", flush=True)
    print(order.result(), refund.result(), flush=True)


if __name__ == "__main__":
    main()
