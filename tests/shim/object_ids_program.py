"""Entity ids (native/object_ids.cc): an id lasts exactly as long as its
object. Objects are made and dropped so that addresses are reused at once
(asyncio futures and plain objects, as the hot paths see them); an object
found at a dead one's address must get a new id, a live one must keep its
own, also across the sweeps and releases of dead entries. Exit 1 on a
violation."""
import asyncio
import os
import sys
import tempfile

import waitgraph
from waitgraph import _native


class Plain:
    pass


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
            loop.close()
        finally:
            waitgraph.stop()
    print("ok")


main()
