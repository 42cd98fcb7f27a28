#include "instrument/native/object_ids.h"

#include <unordered_map>
#include <vector>

namespace waitgraph::shim {
namespace {

struct Entry {
  uint64_t id;
  PyObject* weakref;  // owned; nullptr for the non-weakrefable fallback
};

uint64_t g_next_id = 1;
std::unordered_map<PyObject*, Entry>* g_by_object;
std::unordered_map<PyObject*, PyObject*>* g_object_of_ref;  // weakref -> object
// Weak references whose callback ran; released on the next ObjectId() call
// rather than inside their own callback.
std::vector<PyObject*>* g_dead_refs;
PyObject* g_callback;
void (*g_gone_listener)(uint64_t id) = nullptr;

PyObject* ObjectGone(PyObject*, PyObject* ref) {
  auto it = g_object_of_ref->find(ref);
  if (it != g_object_of_ref->end()) {
    auto entry = g_by_object->find(it->second);
    if (entry != g_by_object->end() && entry->second.weakref == ref) {
      if (g_gone_listener != nullptr) g_gone_listener(entry->second.id);
      g_by_object->erase(entry);
    }
    g_object_of_ref->erase(it);
    g_dead_refs->push_back(ref);
  }
  Py_RETURN_NONE;
}

PyMethodDef g_callback_def = {"_object_gone", ObjectGone, METH_O, nullptr};

}  // namespace

bool InitObjectIds(PyObject* module) {
  g_by_object = new std::unordered_map<PyObject*, Entry>();
  g_object_of_ref = new std::unordered_map<PyObject*, PyObject*>();
  g_dead_refs = new std::vector<PyObject*>();
  g_callback = PyCFunction_NewEx(&g_callback_def, nullptr, nullptr);
  return g_callback != nullptr;
}

void SetObjectGoneListener(void (*listener)(uint64_t id)) { g_gone_listener = listener; }

uint64_t NewEntityId() { return g_next_id++; }

uint64_t ObjectId(PyObject* obj) {
  if (!g_dead_refs->empty()) {
    std::vector<PyObject*> dead;
    dead.swap(*g_dead_refs);
    for (PyObject* ref : dead) Py_DECREF(ref);
  }
  auto it = g_by_object->find(obj);
  if (it != g_by_object->end()) return it->second.id;
  uint64_t id = g_next_id++;
  PyObject* ref = nullptr;
  if (PyType_SUPPORTS_WEAKREFS(Py_TYPE(obj))) {
    ref = PyWeakref_NewRef(obj, g_callback);
    if (ref == nullptr) PyErr_Clear();
  }
  g_by_object->emplace(obj, Entry{id, ref});
  if (ref != nullptr) g_object_of_ref->emplace(ref, obj);
  return id;
}

}  // namespace waitgraph::shim
