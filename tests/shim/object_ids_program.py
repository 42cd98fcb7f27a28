"""Entity ids (native/object_ids.cc): an id lasts exactly as long as its
object. Objects are made and dropped so that addresses are reused at once
(asyncio futures, tasks, contexts and plain objects, as the hot paths see
them; futures, tasks and contexts are told dead by their type's wrapped
tp_dealloc, the others by a weak reference); an object found at a dead one's
address must get a new id, a live one must keep its own, also across the
sweeps and releases of dead entries, and an object its finalizer resurrects
keeps its id. Exit 1 on a violation."""
import asyncio
import contextvars
import gc
import os
import sys
import tempfile

import waitgraph
from waitgraph import _native


class Plain:
    pass


class SubFuture(asyncio.Future):  # deallocs through the C Future's tp_dealloc
    pass


graveyard = []


class Phoenix(asyncio.Future):
    def __del__(self):
        graveyard.append(self)  # resurrected: the first dealloc frees nothing


def check_resurrected(loop):
    f = Phoenix(loop=loop)
    oid = _native.oid(f)
    del f
    gc.collect()
    if len(graveyard) != 1 or _native.oid(graveyard[0]) != oid:
        sys.exit("a resurrected future lost its id")
    graveyard.clear()  # now it dies for good
    for _ in range(100):
        if _native.oid(Phoenix(loop=loop)) == oid:
            sys.exit("a future inherited the id of a resurrected one that died")
    graveyard.clear()
    # A plain C future whose finalizer (an exception never retrieved) hands
    # it to an exception handler that keeps it: resurrected inside the C
    # type's own dealloc.
    loop.set_exception_handler(lambda loop, context: graveyard.append(context["future"]))
    f = loop.create_future()
    f.set_exception(ValueError("never retrieved"))
    oid = _native.oid(f)
    del f
    loop.set_exception_handler(None)
    if len(graveyard) != 1 or _native.oid(graveyard[0]) != oid:
        sys.exit("a future resurrected by its finalizer lost its id")
    graveyard[0].exception()  # retrieved: it dies quietly
    graveyard.clear()


def check(make, count, keep_every):
    seen = {}  # address -> id last given to an object there
    kept = []
    for i in range(count):
        obj = make()
        oid = _native.oid(obj)
        if _native.oid(obj) != oid:
            sys.exit("id of a live object changed")
        if seen.get(id(obj)) == oid:
            sys.exit("an object inherited the id of a dead one at its address")
        seen[id(obj)] = oid
        if i % keep_every == 0:
            kept.append((obj, oid))
        del obj
    for obj, oid in kept:
        if _native.oid(obj) != oid:
            sys.exit("a long-lived object lost its id")
    return len(seen)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        waitgraph.start(os.path.join(tmp, "t.wgtrace"))
        try:
            check(Plain, 60000, 7)
            loop = asyncio.new_event_loop()
            check(loop.create_future, 30000, 11)
            check(lambda: SubFuture(loop=loop), 20000, 7)

            async def nothing():
                pass

            def finished_task():
                task = loop.create_task(nothing())
                loop.run_until_complete(task)
                return task

            check(finished_task, 5000, 5)
            check(contextvars.copy_context, 30000, 13)
            check_resurrected(loop)
            loop.close()
        finally:
            waitgraph.stop()
    print("ok")


main()
