"""Keeps recording until killed (shim_recording_test's SIGKILL case)."""
import concurrent.futures as cf
import sys
import time

ex = cf.ThreadPoolExecutor(2)
start = time.monotonic()
said = False
while True:
    ex.submit(time.sleep, 0.001).result()
    if not said and time.monotonic() - start > 0.3:
        print("ready", flush=True)
        said = True
