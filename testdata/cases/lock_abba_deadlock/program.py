"""Two threads take the same two threading.Lock objects in opposite orders,
at the same time: each holds one and waits for the other, forever."""
import threading
import time

accounts_lock = threading.Lock()
ledger_lock = threading.Lock()
both_hold_one = threading.Barrier(2)


def transfer():
    with accounts_lock:
        both_hold_one.wait()
        with ledger_lock:
            print("transfer done")


def audit():
    with ledger_lock:
        both_hold_one.wait()
        time.sleep(0.05)
        with accounts_lock:
            print("audit done")


print("start")
threads = [threading.Thread(target=transfer, name="transfer"),
           threading.Thread(target=audit, name="audit")]
for t in threads:
    t.start()
for t in threads:
    t.join()
