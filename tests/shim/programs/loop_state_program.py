"""The loop checks read loop._closed and loop._thread_id per call_soon
(native/loop_checks.cc), straight from the loop's inline values when they
are there (native/instance_attrs.h). Each case below changes how or where
that state is kept; the shim must see the state Python sees. Expected
LOOP_CALL events named call_soon: one per "suspect" line printed."""
import asyncio
import threading


def noop():
    pass


def call_soon_on(loop, label, suspect):
    try:
        loop.call_soon(noop)
        outcome = "scheduled"
    except RuntimeError as e:
        outcome = "RuntimeError: %s" % e
    print(label, outcome, "suspect" if suspect else "fine")


# A loop as asyncio makes it: open (fine), then closed (suspect).
plain = asyncio.new_event_loop()
call_soon_on(plain, "plain open:", False)
plain.close()
call_soon_on(plain, "plain closed:", True)

# Its attributes moved into a dict (vars() does that): closed is still seen.
in_dict = asyncio.new_event_loop()
call_soon_on(in_dict, "dict open:", False)
vars(in_dict)
in_dict.close()
call_soon_on(in_dict, "dict closed:", True)


# A loop class changed after the shim looked at it: `_closed` becomes a
# property of the class, which wins over the instance's value.
class Patched(asyncio.SelectorEventLoop):
    pass


patched = Patched()
call_soon_on(patched, "patched before:", False)
Patched._closed = property(lambda self: True, lambda self, value: None)
call_soon_on(patched, "patched after:", True)
del Patched._closed
call_soon_on(patched, "patched restored:", False)
patched.close()

# Another thread runs the loop: call_soon from here is suspect.
running = asyncio.new_event_loop()
started = threading.Event()
runner = threading.Thread(target=lambda: (running.call_soon(started.set), running.run_forever()))
runner.start()
started.wait()
call_soon_on(running, "other thread:", True)
running.call_soon_threadsafe(running.stop)
runner.join()
running.close()
