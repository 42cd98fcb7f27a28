#include "instrument/native/object_ids.h"

#include <algorithm>
#include <deque>
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
// Most ids go to short-lived objects (futures, tasks, contexts): the
// newest entries are kept in a queue that every new id looks a few steps
// further into (a live one goes to the back), so the weak reference of a
// dead object (a GC-tracked object) is released soon after it dies, not at
// the next sweep, and does not bring the program's collections earlier.
struct Young {
  PyObject* obj;  // the key (never dereferenced)
  uint64_t id;    // the entry it was made for, if the key's entry still has it
};
std::deque<Young>* g_young;
constexpr size_t kMaxYoung = 4096;
constexpr int kReleasesPerId = 4;
void (*g_gone_listener)(uint64_t id) = nullptr;

// The object of `e` died: its listener hears of it, and the weak reference
// (without callback: runs no Python code) is released.
void ReleaseDead(const Entry& e) {
  if (g_gone_listener != nullptr) g_gone_listener(e.id);
  Py_DECREF(e.weakref);
}

void ReleaseDeadYoung() {
  for (int i = 0; i < kReleasesPerId && !g_young->empty(); ++i) {
    Young y = g_young->front();
    g_young->pop_front();
    auto it = g_by_object->find(y.obj);
    if (it == g_by_object->end() || it->second.id != y.id) continue;  // replaced or swept
    if (PyWeakref_GET_OBJECT(it->second.weakref) != Py_None) {
      g_young->push_back(y);  // alive: looked at again after the others
      continue;
    }
    ReleaseDead(it->second);
    g_by_object->erase(it);
  }
  while (g_young->size() > kMaxYoung) g_young->pop_front();  // long-lived: left to the sweep
}

bool Dead(const Entry& e) { return e.weakref != nullptr && PyWeakref_GET_OBJECT(e.weakref) == Py_None; }

void SweepDeadEntries() {
  g_young->clear();
  for (auto it = g_by_object->begin(); it != g_by_object->end();) {
    if (Dead(it->second)) {
      ReleaseDead(it->second);
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
  g_young = new std::deque<Young>();
  g_sweep_at = kMinSweep;
  return true;
}

void SetObjectGoneListener(void (*listener)(uint64_t id)) { g_gone_listener = listener; }

uint64_t NewEntityId() { return g_next_id++; }

uint64_t ObjectId(PyObject* obj) {
  auto it = g_by_object->find(obj);
  if (it != g_by_object->end()) {
    Entry& e = it->second;
    if (e.weakref == nullptr || PyWeakref_GET_OBJECT(e.weakref) == obj) return e.id;
    ReleaseDead(e);  // its object died: this one gets a new id
    e = Entry{g_next_id++, WeakRefTo(obj)};
    if (e.weakref != nullptr) g_young->push_back(Young{obj, e.id});
    return e.id;
  }
  if (g_by_object->size() >= g_sweep_at) SweepDeadEntries();
  ReleaseDeadYoung();
  uint64_t id = g_next_id++;
  PyObject* ref = WeakRefTo(obj);
  g_by_object->emplace(obj, Entry{id, ref});
  if (ref != nullptr) g_young->push_back(Young{obj, id});
  return id;
}

}  // namespace waitgraph::shim
