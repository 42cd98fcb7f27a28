#include "instrument/native/object_ids.h"

#include <algorithm>
#include <unordered_map>

namespace waitgraph::shim {
namespace {

struct Entry {
  uint64_t id;
  // A weak reference without a callback, owned; nullptr for the
  // non-weakrefable fallback. While it still points at the key, the key is
  // the object the id was given to; once it points at None that object
  // died, and an object now at the same address is another one.
  PyObject* weakref;
};

uint64_t g_next_id = 1;
std::unordered_map<PyObject*, Entry>* g_by_object;
// Dead entries are dropped when the map has doubled since the last sweep
// (amortised O(1) per id; no callback runs when an object dies).
size_t g_sweep_at = 0;
constexpr size_t kMinSweep = 4096;

bool Dead(const Entry& e) { return e.weakref != nullptr && PyWeakref_GET_OBJECT(e.weakref) == Py_None; }

void SweepDeadEntries() {
  for (auto it = g_by_object->begin(); it != g_by_object->end();) {
    if (Dead(it->second)) {
      Py_DECREF(it->second.weakref);  // a weak reference without callback: runs no Python code
      it = g_by_object->erase(it);
    } else {
      ++it;
    }
  }
  g_sweep_at = std::max(kMinSweep, 2 * g_by_object->size());
}

PyObject* WeakRefTo(PyObject* obj) {
  if (!PyType_SUPPORTS_WEAKREFS(Py_TYPE(obj))) return nullptr;
  PyObject* ref = PyWeakref_NewRef(obj, nullptr);
  if (ref == nullptr) PyErr_Clear();
  return ref;
}

}  // namespace

bool InitObjectIds(PyObject* /*module*/) {
  g_by_object = new std::unordered_map<PyObject*, Entry>();
  g_sweep_at = kMinSweep;
  return true;
}

uint64_t NewEntityId() { return g_next_id++; }

uint64_t ObjectId(PyObject* obj) {
  auto it = g_by_object->find(obj);
  if (it != g_by_object->end()) {
    Entry& e = it->second;
    if (e.weakref == nullptr || PyWeakref_GET_OBJECT(e.weakref) == obj) return e.id;
    Py_DECREF(e.weakref);  // its object died: this one gets a new id
    e = Entry{g_next_id++, WeakRefTo(obj)};
    return e.id;
  }
  if (g_by_object->size() >= g_sweep_at) SweepDeadEntries();
  uint64_t id = g_next_id++;
  g_by_object->emplace(obj, Entry{id, WeakRefTo(obj)});
  return id;
}

}  // namespace waitgraph::shim
