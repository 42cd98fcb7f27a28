// The loop-bound objects (futures, tasks, Lock/Event/Queue..., transports)
// that loop affinity (analyzer/loop_affinity.h) remembers, bounded: a
// long-running service makes futures without end, and a crossing usually
// involves an object made early (a module-level client, lifespan state). So
// the first `kept_forever` objects stay and later ones live in a FIFO of the
// `recent` newest, the oldest forgotten first.
//
// A LOOP_BOUND is a third of a busy trace's events, nearly each one a new
// object: the table holds no node per object and no string. Entries sit in
// two arrays in the order they came; the shim numbers objects from one
// counter, so their ids come in increasing order and an id is found by
// binary search, a new one told by being larger than every id so far. The
// first id out of order (a crafted trace, a future shim) switches the table
// to a hash index of every entry, for good: same answers, more memory.
#ifndef WAITGRAPH_ANALYZER_BOUND_OBJECTS_H_
#define WAITGRAPH_ANALYZER_BOUND_OBJECTS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "analyzer/model.h"

namespace waitgraph::analyzer {

// A loop-bound object. Primitives (Lock, Event, Queue...) are made first and
// bound at their first use; futures, tasks and transports are bound when made.
struct BoundObject {
  EntityId id = 0;
  EntityId loop = 0;  // 0 while unbound
  // (No binding time or thread: no rule asks, and the table holds up to
  // 220,000 entries: 40 bytes each, not 56.)
  StackId created_stack = 0;
  StackId bound_stack = 0;
  trace::EntityKind kind = trace::ENTITY_UNKNOWN;

  // "Queue", "Task", "_SelectorSocketTransport"; "" if not known.
  const std::string& type_name() const;
  // `name` must outlive the object: the model's interned string
  // (Model::String), never a temporary.
  void set_type_name(const std::string& name) { type_name_ = &name; }
  // The stack that says where the user made it: creation if known, else binding.
  StackId origin_stack() const { return created_stack != 0 ? created_stack : bound_stack; }

 private:
  const std::string* type_name_ = nullptr;  // the model's string, not a copy
};

class BoundObjectTable {
 public:
  // `recent` must be at least 1.
  BoundObjectTable(size_t kept_forever, size_t recent);

  // The object `id`, added (all but its id unset) if not kept.
  BoundObject& Ref(EntityId id);
  const BoundObject* Find(EntityId id) const;
  size_t size() const { return forever_.size() + recent_.size(); }
  // How many objects were forgotten to make room (the table is full).
  uint64_t forgotten() const { return forgotten_; }
  size_t capacity() const { return kept_forever_ + recent_capacity_; }
  // False once an id came out of order: the hash index is in use.
  bool ids_in_order() const { return !hashed_; }

 private:
  // Where an id is kept: forever_[slot], or recent_[slot - kept_forever_].
  using Slot = uint32_t;
  static constexpr Slot kNone = UINT32_MAX;
  Slot SlotOf(EntityId id) const;
  Slot SearchInOrder(EntityId id) const;
  BoundObject& At(Slot slot);
  BoundObject& Add(EntityId id);
  void IndexEverything();

  const size_t kept_forever_;
  const size_t recent_capacity_;
  std::vector<BoundObject> forever_;  // the first kept_forever_ objects
  // The newest objects, oldest first; once full, a ring whose oldest entry
  // is at oldest_ (the next to be replaced).
  std::vector<BoundObject> recent_;
  size_t oldest_ = 0;
  uint64_t forgotten_ = 0;
  EntityId last_added_ = 0;  // in order: the largest id kept or forgotten
  // Every kept id's slot, once ids came out of order (unused before).
  bool hashed_ = false;
  absl::flat_hash_map<EntityId, Slot> index_;
};

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_BOUND_OBJECTS_H_
