// The interned strings of a trace (InternedString), by id: looked up for
// most events (a wait's API, a submitted callable, a type's name), so the
// ids the shim hands out (small, dense: 1, 2, 3...) index an array; an id
// far past the others (a crafted trace) goes to a hash map, so memory stays
// proportional to what is defined.
//
// A string is never moved nor overwritten (an id defined again gets a new
// string): a reference to one stays valid as long as the table.
#ifndef WAITGRAPH_ANALYZER_INTERNED_STRINGS_H_
#define WAITGRAPH_ANALYZER_INTERNED_STRINGS_H_

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace waitgraph::analyzer {

class InternedStrings {
 public:
  // Defines (or defines again) `id` as `value`.
  void Define(uint32_t id, std::string_view value);
  // The string of `id`, or nullptr if undefined.
  const std::string* Find(uint32_t id) const {
    if (id < dense_.size()) return dense_[id];
    auto it = sparse_.find(id);
    return it == sparse_.end() ? nullptr : it->second;
  }

 private:
  const std::string*& Slot(uint32_t id);

  std::deque<std::string> store_;           // stable addresses
  std::vector<const std::string*> dense_;   // by id; nullptr: undefined
  absl::flat_hash_map<uint32_t, const std::string*> sparse_;  // ids past dense_
};

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_INTERNED_STRINGS_H_
