"""The same ABBA with threading.RLock, taken reentrantly (a method that
holds its own lock calls another that takes it again): recursion is fine,
the opposite order between the two objects is not."""
import threading


class Account:
    def __init__(self, name):
        self.name = name
        self.lock = threading.RLock()
        self.balance = 100

    def withdraw(self, amount):
        with self.lock:
            self.balance -= amount

    def transfer_to(self, other, amount, ready, go):
        with self.lock:
            self.withdraw(amount)  # RLock: taken again by its holder
            ready.wait()
            go.wait()
            with other.lock:
                other.balance += amount


alice = Account("alice")
bob = Account("bob")
ready_a, ready_b, go = threading.Barrier(2), threading.Barrier(2), threading.Event()
print("start")
t1 = threading.Thread(target=alice.transfer_to, args=(bob, 10, ready_a, go), name="alice-pays")
t2 = threading.Thread(target=bob.transfer_to, args=(alice, 5, ready_b, go), name="bob-pays")
t1.start()
t2.start()
# Both hold their own account's lock; then let both reach for the other.
threading.Thread(target=lambda: (ready_a.wait(), ready_b.wait(), go.set())).start()
t1.join()
t2.join()
