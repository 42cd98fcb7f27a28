#include "instrument/native/object_ids.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include "instrument/native/kept_counts.h"

namespace waitgraph::shim {
namespace {

struct Entry {
  PyObject* key;  // nullptr: a free slot
  uint64_t id;
  // A weak reference without a callback, owned; nullptr for an object whose
  // death the dealloc hooks below report, and for the non-weakrefable
  // fallback. While it still points at the key, the key is the object the
  // id was given to; once it points at None that object died, and an object
  // now at the same address is another one.
  PyObject* weakref;
};

// Entries by object address: open addressing with linear probing (a look-up
// is a multiply and a compare or two; no node allocated per id, which
// std::unordered_map cost on every future, task and context).
// A Find() result is valid until the next Insert() or Erase(): not across
// anything that may allocate a Python object (a collection may free hooked
// objects, which erases their entries).
class IdTable {
 public:
  IdTable() { Resize(kMinSlots); }
  size_t size() const { return size_; }

  Entry* Find(PyObject* key) {
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == nullptr) return nullptr;
    }
  }
  // The entry of `key`: the one there already (left as it is), or a new
  // one with `id` and `weakref`.
  Entry* Insert(PyObject* key, uint64_t id, PyObject* weakref) {
    if (2 * (size_ + 1) > slots_.size()) Resize(2 * slots_.size());
    size_t i = Home(key);
    for (; slots_[i].key != nullptr; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return &slots_[i];
    }
    slots_[i] = Entry{key, id, weakref};
    ++size_;
    return &slots_[i];
  }
  // Backward-shift deletion: the entries after `e` that probed past it move
  // up, so no tombstones are left.
  void Erase(Entry* e) {
    size_t hole = size_t(e - slots_.data());
    for (size_t i = (hole + 1) & mask_; slots_[i].key != nullptr; i = (i + 1) & mask_) {
      size_t home = Home(slots_[i].key);
      // Movable if its home is not in (hole, i] (cyclically).
      if (((i - home) & mask_) >= ((i - hole) & mask_)) {
        slots_[hole] = slots_[i];
        hole = i;
      }
    }
    slots_[hole].key = nullptr;
    --size_;
  }
  // Keeps the entries for which keep(entry) is true (it may release the
  // others' resources, not touch the table); the table is rebuilt at a size
  // fitting them.
  template <typename Keep>
  void Filter(Keep keep) {
    std::vector<Entry> live;
    for (const Entry& e : slots_) {
      if (e.key != nullptr && keep(e)) live.push_back(e);
    }
    size_t slots = kMinSlots;
    while (slots < 4 * live.size()) slots *= 2;
    Rebuild(slots, live);
  }

 private:
  static constexpr size_t kMinSlots = 1024;
  size_t Home(PyObject* key) const {
    // Fibonacci hashing of the address (its low bits are alignment).
    return size_t((uint64_t(reinterpret_cast<uintptr_t>(key)) * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void Resize(size_t slots) {
    std::vector<Entry> old;
    old.swap(slots_);
    Rebuild(slots, old);
  }
  void Rebuild(size_t slots, const std::vector<Entry>& entries) {  // slots: a power of two
    slots_.assign(slots, Entry{nullptr, 0, nullptr});
    mask_ = slots - 1;
    shift_ = 64 - __builtin_ctzll(slots);
    size_ = 0;
    for (const Entry& e : entries) {
      if (e.key != nullptr) Insert(e.key, e.id, e.weakref);
    }
  }
  std::vector<Entry> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t size_ = 0;
};

uint64_t g_next_id = 1;
IdTable* g_by_object;
// Dead entries are dropped when the map has doubled since the last sweep
// (amortised O(1) per id; no callback runs when an object dies).
size_t g_sweep_at = 0;
constexpr size_t kMinSweep = 4096;
// Most ids go to short-lived objects: the newest weak-referenced entries
// are kept in a queue that every new one looks a few steps further into (a
// live one goes to the back), so the weak reference of a dead object (a
// GC-tracked object) is released soon after it dies, not at the next
// sweep, and does not bring the program's collections earlier.
struct Young {
  PyObject* obj;  // the key (never dereferenced)
  uint64_t id;    // the entry it was made for, if the key's entry still has it
};
std::deque<Young>* g_young;
constexpr size_t kMaxYoung = 4096;
constexpr int kReleasesPerId = 4;
// Who hears of deaths (ObjectGoneListener): a few parts, each with state
// keyed by ids.
constexpr int kMaxGoneListeners = 4;
ObjectGoneListener g_gone_listeners[kMaxGoneListeners] = {};
int g_gone_listener_count = 0;

void TellListeners(uint64_t id) {
  for (int i = 0; i < g_gone_listener_count; ++i) g_gone_listeners[i](id);
}

// The most numerous short-lived objects (asyncio futures and tasks,
// contexts: one per scheduled callback) are told dead by their type's
// tp_dealloc, wrapped: their entry goes as they die, with no weak reference
// made per object (~250 instructions, a GC-tracked allocation) and no young
// queue. The listener hears of them at the next ObjectId() call, as of the
// others: a dealloc can happen in the middle of any Py_DECREF, where the
// listener's own tables may be in use.
struct DeallocHook {
  const char* type_name;  // a static type's tp_name; nullptr: PyContext_Type
  PyTypeObject* type = nullptr;
  destructor original = nullptr;
};
DeallocHook g_dealloc_hooks[] = {{"_asyncio.Future"}, {"_asyncio.Task"}, {nullptr}};
// The tp_dealloc of classes made by `class` statements, which calls the
// nearest base's own tp_dealloc (looked up at each dealloc).
destructor g_subtype_dealloc = nullptr;
// Ids of hooked objects that died, for the listener.
std::vector<uint64_t>* g_gone_pending;

template <int I>
void HookedDealloc(PyObject* self);
constexpr destructor kHookedDeallocs[] = {HookedDealloc<0>, HookedDealloc<1>, HookedDealloc<2>};
static_assert(std::size(kHookedDeallocs) == std::size(g_dealloc_hooks));

void ForgetDeadHooked(PyObject* self) {
  if (g_by_object == nullptr) return;
  Entry* e = g_by_object->Find(self);
  if (e == nullptr) return;
  if (e->weakref == nullptr) {
    g_gone_pending->push_back(e->id);
    g_by_object->Erase(e);
  }
  // else: an entry made before its type was hooked; its weak reference (now
  // pointing at None) drops it as before.
}

template <int I>
void HookedDealloc(PyObject* self) {
  // Run the finalizer first, as the original would (it is not run twice):
  // if it resurrects the object, the original returns without freeing it,
  // and the object keeps its id.
  if (Py_TYPE(self)->tp_finalize != nullptr && PyObject_CallFinalizerFromDealloc(self) < 0) return;
  ForgetDeadHooked(self);
  g_dealloc_hooks[I].original(self);
}

// The dealloc hook that reports the death of an object of `type`, or -1.
// A class statement's subclass deallocs through its nearest C base.
int HookIndexOf(PyTypeObject* type) {
  while (type != nullptr && type->tp_dealloc == g_subtype_dealloc) type = type->tp_base;
  if (type == nullptr) return -1;
  for (size_t i = 0; i < std::size(g_dealloc_hooks); ++i) {
    if (type->tp_dealloc == kHookedDeallocs[i]) return int(i);
  }
  return -1;
}

// Wraps the tp_dealloc of `type` if it is one of g_dealloc_hooks' static
// types (named: _asyncio is imported by the program, not by the shim).
void MaybeHookType(PyTypeObject* type) {
  while (type != nullptr && type->tp_dealloc == g_subtype_dealloc) type = type->tp_base;
  if (type == nullptr || (type->tp_flags & Py_TPFLAGS_HEAPTYPE)) return;
  for (size_t i = 0; i < std::size(g_dealloc_hooks); ++i) {
    DeallocHook& h = g_dealloc_hooks[i];
    if (h.type != nullptr || h.type_name == nullptr || std::strcmp(type->tp_name, h.type_name) != 0) continue;
    h.type = type;
    h.original = type->tp_dealloc;
    type->tp_dealloc = kHookedDeallocs[i];
  }
}

// Per type, whether its objects' deaths are reported by a dealloc hook
// (types seen by ObjectId are few: loops, futures, queues, contexts...).
std::unordered_map<PyTypeObject*, bool>* g_hooked_types;
PyTypeObject* g_last_type = nullptr;  // the last static type looked up, and its answer
bool g_last_type_hooked = false;

bool DeathReported(PyTypeObject* type) {
  if (type == g_last_type) return g_last_type_hooked;
  auto it = g_hooked_types->find(type);
  if (it != g_hooked_types->end()) {
    g_last_type = type;
    g_last_type_hooked = it->second;
    return it->second;
  }
  MaybeHookType(type);
  bool hooked = HookIndexOf(type) >= 0;
  // A heap type can die and another take its address: static types only.
  if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE)) g_hooked_types->emplace(type, hooked);
  return hooked;
}

void TellGone() {
  if (g_gone_pending->empty()) return;
  static std::vector<uint64_t>* telling = new std::vector<uint64_t>();
  telling->swap(*g_gone_pending);  // in case the listener frees more of them
  for (uint64_t id : *telling) TellListeners(id);
  telling->clear();
}

// The object of `e` died: its listener hears of it, and the weak reference
// (without callback: runs no Python code) is released.
void ReleaseDead(const Entry& e) {
  TellListeners(e.id);
  Py_DECREF(e.weakref);
}

void ReleaseDeadYoung() {
  for (int i = 0; i < kReleasesPerId && !g_young->empty(); ++i) {
    Young y = g_young->front();
    g_young->pop_front();
    Entry* e = g_by_object->Find(y.obj);
    if (e == nullptr || e->id != y.id) continue;  // replaced or swept
    if (PyWeakref_GET_OBJECT(e->weakref) != Py_None) {
      g_young->push_back(y);  // alive: looked at again after the others
      continue;
    }
    ReleaseDead(*e);
    g_by_object->Erase(e);
  }
  while (g_young->size() > kMaxYoung) g_young->pop_front();  // long-lived: left to the sweep
}

bool Dead(const Entry& e) { return e.weakref != nullptr && PyWeakref_GET_OBJECT(e.weakref) == Py_None; }

void SweepDeadEntries() {
  g_young->clear();
  g_by_object->Filter([](const Entry& e) {
    if (!Dead(e)) return true;
    ReleaseDead(e);
    return false;
  });
  g_sweep_at = std::max(kMinSweep, 2 * g_by_object->size());
}

PyObject* WeakRefTo(PyObject* obj) {
  if (DeathReported(Py_TYPE(obj)) || !PyType_SUPPORTS_WEAKREFS(Py_TYPE(obj))) return nullptr;
  PyObject* ref = PyWeakref_NewRef(obj, nullptr);
  if (ref == nullptr) PyErr_Clear();
  return ref;
}

// The type of every class statement's instances' tp_dealloc (CPython's
// subtype_dealloc, not exported): read off a throw-away class.
bool FindSubtypeDealloc() {
  PyObject* probe = PyObject_CallFunction(reinterpret_cast<PyObject*>(&PyType_Type), "s(O){}",
                                          "_waitgraph_probe", &PyBaseObject_Type);
  if (probe == nullptr) return false;
  g_subtype_dealloc = reinterpret_cast<PyTypeObject*>(probe)->tp_dealloc;
  Py_DECREF(probe);
  return true;
}

}  // namespace

bool InitObjectIds(PyObject* /*module*/) {
  g_by_object = new IdTable();
  g_young = new std::deque<Young>();
  g_gone_pending = new std::vector<uint64_t>();
  g_hooked_types = new std::unordered_map<PyTypeObject*, bool>();
  g_sweep_at = kMinSweep;
  if (!FindSubtypeDealloc()) return false;
  DeallocHook& context = g_dealloc_hooks[std::size(g_dealloc_hooks) - 1];
  context.type = &PyContext_Type;
  context.original = PyContext_Type.tp_dealloc;
  PyContext_Type.tp_dealloc = kHookedDeallocs[std::size(g_dealloc_hooks) - 1];
  return true;
}

void AddObjectGoneListener(ObjectGoneListener listener) {
  if (g_gone_listener_count < kMaxGoneListeners) g_gone_listeners[g_gone_listener_count++] = listener;
}

void CountObjectIds(KeptCounts& out) {
  out.emplace_back("object_ids.ids", g_by_object->size());
  out.emplace_back("object_ids.young", g_young->size());
  out.emplace_back("object_ids.gone_untold", g_gone_pending->size());
}

uint64_t NewEntityId() { return g_next_id++; }

uint64_t ObjectId(PyObject* obj) {
  if (Entry* e = g_by_object->Find(obj); e != nullptr) {
    if (e->weakref == nullptr || PyWeakref_GET_OBJECT(e->weakref) == obj) return e->id;
    // Its object died: this one gets a new id (the entry is looked up again
    // after making the weak reference, which may run a collection).
    ReleaseDead(*e);
    e->weakref = nullptr;
    e->id = g_next_id++;
    uint64_t id = e->id;
    PyObject* ref = WeakRefTo(obj);
    if (ref != nullptr) {
      if (Entry* again = g_by_object->Find(obj); again != nullptr && again->id == id) {
        again->weakref = ref;
        g_young->push_back(Young{obj, id});
      } else {
        Py_DECREF(ref);
      }
    }
    return id;
  }
  // The listener hears of dead objects where it did before (when a new id
  // is made), not in the middle of a hook that just asked for a known id.
  TellGone();
  if (g_by_object->size() >= g_sweep_at) SweepDeadEntries();
  uint64_t id = g_next_id++;
  PyObject* ref = WeakRefTo(obj);
  Entry* e = g_by_object->Insert(obj, id, ref);
  if (e->id != id) {  // a finalizer run by a collection in WeakRefTo asked first
    Py_XDECREF(ref);
    return e->id;
  }
  if (ref != nullptr) {
    // The queue is looked into as it grows (not per id: the ids of hooked
    // types add nothing to it, and its live entries, the loop's among them,
    // would be cycled through for nothing).
    ReleaseDeadYoung();
    g_young->push_back(Young{obj, id});
  }
  return id;
}

}  // namespace waitgraph::shim
