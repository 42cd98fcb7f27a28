// Stable entity ids for Python objects (loops, executors, futures, queues,
// events, conditions, contexts), without touching the objects.
//
// A map keyed by the object's address holds the id. Most ids go to
// short-lived asyncio futures and tasks and to contexts: the tp_dealloc of
// those types (_asyncio.Future, _asyncio.Task and their subclasses,
// contextvars.Context) is wrapped so that their entry is dropped as they
// die. Other objects' entries hold a weak reference (no callback) to them:
// while it still points at the key the id is that object's; once it points
// at None the object died, and a later object at the same address gets a
// new id. So an id lives exactly as long as its object, no Python code runs
// when an object dies, and dead weak-referenced entries are swept when the
// map has doubled. Nothing is added to the object's __dict__. Objects that
// do not support weak references (none of the types the shim tracks) fall
// back to an entry keyed by address alone, which may be inherited by a
// later object at that address.
//
// Ids come from one process-wide counter starting at 1, shared with new_id(),
// so they are unique within a trace. All functions need the GIL.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_OBJECT_IDS_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_OBJECT_IDS_H_

#include <Python.h>

#include <cstdint>

namespace waitgraph::shim {

uint64_t NewEntityId();
// The id of `obj`, assigned on first use. Never raises.
uint64_t ObjectId(PyObject* obj);
// Called with the id of each object that dies while it has one, soon after
// the death: at a later ObjectId() call that makes a new id, or a sweep
// (never inside a Py_DECREF; GIL held; must not raise or call Python).
// Listeners forget what they keep by id: the context hooks a dead
// context's state, the asyncio lock owners a dead lock's acquirers. At
// most four (module init).
using ObjectGoneListener = void (*)(uint64_t id);
void AddObjectGoneListener(ObjectGoneListener listener);
// Module init. False (with a Python error) on failure.
bool InitObjectIds(PyObject* module);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_OBJECT_IDS_H_
