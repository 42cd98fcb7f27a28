"""Says "ready", then waits for signals. With "catch" it handles every
signal the test sends, printing its name and exiting 0 after the first;
with "default" it keeps the default dispositions (most signals kill it)."""
import signal
import sys
import threading

MODE = sys.argv[1]
got = threading.Event()


def handler(signum, frame):
    print("got", signal.Signals(signum).name, flush=True)
    got.set()


if MODE == "catch":
    for name in sys.argv[2:]:
        signal.signal(getattr(signal, name), handler)
print("ready", flush=True)
if MODE == "catch":
    while not got.wait(0.05):
        pass
else:
    while True:
        signal.pause()
