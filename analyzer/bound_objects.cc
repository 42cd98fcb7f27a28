#include "analyzer/bound_objects.h"

#include <algorithm>

namespace waitgraph::analyzer {
namespace {

// Grows `v` by doubling, but never past `limit` entries: the ring's array
// ends up exactly as large as it may be, not up to twice that.
void MakeRoom(std::vector<BoundObject>& v, size_t limit) {
  if (v.size() < v.capacity()) return;
  v.reserve(std::min(limit, std::max<size_t>(1024, 2 * v.capacity())));
}

}  // namespace

static_assert(sizeof(BoundObject) <= 40, "a table entry: up to 220,000 of them are kept");

const std::string& BoundObject::type_name() const {
  static const std::string* const kUnknown = new std::string();
  return type_name_ != nullptr ? *type_name_ : *kUnknown;
}

BoundObjectTable::BoundObjectTable(size_t kept_forever, size_t recent)
    : kept_forever_(kept_forever), recent_capacity_(std::max<size_t>(1, recent)) {}

BoundObject& BoundObjectTable::At(Slot slot) {
  return slot < kept_forever_ ? forever_[slot] : recent_[slot - kept_forever_];
}

const BoundObject* BoundObjectTable::Find(EntityId id) const {
  const Slot slot = SlotOf(id);
  if (slot == kNone) return nullptr;
  return slot < kept_forever_ ? &forever_[slot] : &recent_[slot - kept_forever_];
}

BoundObjectTable::Slot BoundObjectTable::SlotOf(EntityId id) const {
  if (hashed_) {
    auto it = index_.find(id);
    return it == index_.end() ? kNone : it->second;
  }
  return SearchInOrder(id);
}

// Ids in order: forever_ holds the smallest, then recent_ from oldest_ on
// (around the ring), each sorted.
BoundObjectTable::Slot BoundObjectTable::SearchInOrder(EntityId id) const {
  if (size() == 0 || id > last_added_) return kNone;
  if (!forever_.empty() && id <= forever_.back().id) {
    auto it = std::lower_bound(forever_.begin(), forever_.end(), id,
                               [](const BoundObject& o, EntityId key) { return o.id < key; });
    return it != forever_.end() && it->id == id ? Slot(it - forever_.begin()) : kNone;
  }
  const size_t n = recent_.size();
  size_t lo = 0, hi = n;  // logical positions, oldest first
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (recent_[(oldest_ + mid) % n].id < id) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == n) return kNone;
  const size_t physical = (oldest_ + lo) % n;
  return recent_[physical].id == id ? Slot(kept_forever_ + physical) : kNone;
}

BoundObject& BoundObjectTable::Ref(EntityId id) {
  if (const Slot slot = SlotOf(id); slot != kNone) return At(slot);
  // A new id no larger than one seen before: binary search no longer
  // works, the hash index takes over.
  if (!hashed_ && size() > 0 && id <= last_added_) IndexEverything();
  return Add(id);
}

BoundObject& BoundObjectTable::Add(EntityId id) {
  Slot slot;
  if (forever_.size() < kept_forever_) {
    slot = Slot(forever_.size());
    MakeRoom(forever_, kept_forever_);
    forever_.emplace_back();
  } else if (recent_.size() < recent_capacity_) {
    slot = Slot(kept_forever_ + recent_.size());
    MakeRoom(recent_, recent_capacity_);
    recent_.emplace_back();
  } else {
    // Full: the newest takes the oldest's place, which is forgotten.
    slot = Slot(kept_forever_ + oldest_);
    if (hashed_) index_.erase(recent_[oldest_].id);
    ++forgotten_;
    recent_[oldest_] = BoundObject();
    oldest_ = (oldest_ + 1) % recent_capacity_;
  }
  if (hashed_) index_[id] = slot;
  last_added_ = std::max(last_added_, id);
  BoundObject& o = At(slot);
  o.id = id;
  return o;
}

void BoundObjectTable::IndexEverything() {
  hashed_ = true;
  index_.reserve(size());
  for (size_t i = 0; i < forever_.size(); ++i) index_[forever_[i].id] = Slot(i);
  for (size_t i = 0; i < recent_.size(); ++i) index_[recent_[i].id] = Slot(kept_forever_ + i);
}

}  // namespace waitgraph::analyzer
