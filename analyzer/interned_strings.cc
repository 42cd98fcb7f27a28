#include "analyzer/interned_strings.h"

#include <algorithm>

namespace waitgraph::analyzer {

// An id joins the array if the array, grown to hold it (at least doubled:
// growth costs O(1) per string), stays within a few times the strings
// defined, plus a little: else the hash map takes it.
const std::string*& InternedStrings::Slot(uint32_t id) {
  if (id < dense_.size()) return dense_[id];
  const uint64_t room = 4 * uint64_t(store_.size()) + 4096;
  const uint64_t size = std::max<uint64_t>(uint64_t(id) + 1, 2 * uint64_t(dense_.size()));
  if (size > room) return sparse_[id];
  dense_.resize(size, nullptr);
  // Ids the map took while the array was smaller move into it.
  for (auto it = sparse_.begin(); it != sparse_.end();) {
    if (it->first < dense_.size()) {
      dense_[it->first] = it->second;
      sparse_.erase(it++);
    } else {
      ++it;
    }
  }
  return dense_[id];
}

void InternedStrings::Define(uint32_t id, std::string_view value) {
  const std::string*& slot = Slot(id);
  if (slot != nullptr && *slot == value) return;
  slot = &store_.emplace_back(value);
}

}  // namespace waitgraph::analyzer
