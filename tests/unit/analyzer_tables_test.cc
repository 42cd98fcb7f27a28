// The analyzer's node-free tables (issue 12) keep exactly what the maps
// they replaced kept: each is run side by side with a plain reference
// implementation of the old code on random operation sequences.
#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "analyzer/bound_objects.h"
#include "analyzer/interned_strings.h"
#include "gtest/gtest.h"

namespace waitgraph::analyzer {
namespace {

// LoopAffinity's bound objects as they were kept before: a map, and a FIFO
// of the ids past the first `kept_forever`.
class ReferenceObjects {
 public:
  ReferenceObjects(size_t kept_forever, size_t recent) : kept_forever_(kept_forever), recent_(recent) {}
  BoundObject& Ref(EntityId id) {
    auto [it, inserted] = objects_.try_emplace(id);
    if (inserted) {
      it->second.id = id;
      if (seen_++ >= kept_forever_) {
        fifo_.push_back(id);
        if (fifo_.size() > recent_) {
          EntityId old = fifo_.front();
          fifo_.pop_front();
          if (old != id) objects_.erase(old);
          it = objects_.find(id);
        }
      }
    }
    return it->second;
  }
  const BoundObject* Find(EntityId id) const {
    auto it = objects_.find(id);
    return it == objects_.end() ? nullptr : &it->second;
  }
  size_t size() const { return objects_.size(); }

 private:
  size_t kept_forever_, recent_, seen_ = 0;
  std::map<EntityId, BoundObject> objects_;
  std::deque<EntityId> fifo_;
};

// Ids mostly in increasing order (as the shim numbers them), with rebinding
// of kept and forgotten objects and, with `disorder`, ids out of order.
void RunSideBySide(uint32_t seed, size_t kept_forever, size_t recent, double disorder) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  BoundObjectTable table(kept_forever, recent);
  ReferenceObjects reference(kept_forever, recent);
  const std::string names[] = {"Task", "Future", "Queue"};
  EntityId next = 1;
  for (int step = 0; step < 4000; ++step) {
    EntityId id;
    const double r = coin(rng);
    if (r < 0.7 || next < 3) {
      id = next++;  // a new object
      if (coin(rng) < 0.2) next += rng() % 5;  // ids used by other entities
    } else if (r < 0.7 + disorder) {
      id = next + 10 + rng() % 50;  // ahead of the counter: later ids come below it
    } else {
      id = 1 + rng() % (next - 1);  // an earlier id: kept, or forgotten and back
      // In order, a forgotten object never comes back.
      if (disorder == 0 && reference.Find(id) == nullptr) id = next++;
    }
    if (coin(rng) < 0.5) {
      BoundObject& a = table.Ref(id);
      BoundObject& b = reference.Ref(id);
      ASSERT_EQ(a.id, b.id);
      ASSERT_EQ(a.bound_stack, b.bound_stack) << "step " << step << " id " << id;
      ASSERT_EQ(a.type_name(), b.type_name());
      a.bound_stack = b.bound_stack = StackId(step + 1);
      const std::string& name = names[step % 3];
      a.set_type_name(name);
      b.set_type_name(name);
    }
    const EntityId probe = 1 + rng() % (next + 60);
    const BoundObject* a = table.Find(probe);
    const BoundObject* b = reference.Find(probe);
    ASSERT_EQ(a == nullptr, b == nullptr) << "step " << step << " probe " << probe;
    if (a != nullptr) {
      ASSERT_EQ(a->bound_stack, b->bound_stack);
      ASSERT_EQ(a->type_name(), b->type_name());
    }
    ASSERT_EQ(table.size(), reference.size());
  }
  if (disorder == 0) EXPECT_TRUE(table.ids_in_order());
}

TEST(BoundObjectTableTest, SameAsTheMapWithIdsInOrder) {
  for (uint32_t seed = 0; seed < 40; ++seed) {
    RunSideBySide(seed, 1 + seed % 50, 1 + seed % 300, 0.0);
  }
}

TEST(BoundObjectTableTest, SameAsTheMapWithIdsOutOfOrder) {
  for (uint32_t seed = 0; seed < 40; ++seed) RunSideBySide(seed, seed % 50, 1 + seed % 300, 0.05);
}

TEST(BoundObjectTableTest, NewIdsInOrderNeverBuildAnIndex) {
  BoundObjectTable table(3, 5);
  for (EntityId id = 10; id < 100; id += 3) table.Ref(id).loop = id;
  EXPECT_TRUE(table.ids_in_order());
  EXPECT_EQ(table.size(), 8u);
  for (EntityId id : {10, 13, 16}) ASSERT_NE(table.Find(id), nullptr) << id;  // kept forever
  EXPECT_EQ(table.Find(19), nullptr);  // forgotten
  for (EntityId id : {85, 88, 91, 94, 97}) EXPECT_EQ(table.Find(id)->loop, id);
  EXPECT_EQ(table.Find(98), nullptr);
  table.Ref(19);  // a forgotten object seen again: out of order
  EXPECT_FALSE(table.ids_in_order());
  EXPECT_NE(table.Find(19), nullptr);
  EXPECT_EQ(table.Find(85), nullptr);
  EXPECT_EQ(table.Find(97)->loop, 97u);
}

// Ids dense (as the shim hands them out), sparse, huge and defined again:
// the same answers as a map, and every string kept where it was.
TEST(InternedStringsTest, SameAsAMapForDenseSparseAndRedefinedIds) {
  for (uint32_t seed = 0; seed < 20; ++seed) {
    std::mt19937 rng(seed);
    InternedStrings strings;
    std::map<uint32_t, std::string> reference;
    std::vector<std::pair<const std::string*, std::string>> handed_out;
    uint32_t next = 1;
    for (int step = 0; step < 5000; ++step) {
      uint32_t id;
      switch (rng() % 5) {
        case 0: id = rng(); break;                  // anywhere
        case 1: id = 1 + rng() % next; break;       // defined again
        case 2: id = next + rng() % 20000; break;   // past the array, for now
        default: id = next++; break;                // the next one
      }
      std::string value = "s" + std::to_string(rng() % 300);
      strings.Define(id, value);
      reference[id] = value;
      const uint32_t probe = rng() % 3 == 0 ? rng() : rng() % (next + 30000);
      const std::string* found = strings.Find(probe);
      auto it = reference.find(probe);
      ASSERT_EQ(found == nullptr, it == reference.end()) << probe;
      if (found != nullptr) ASSERT_EQ(*found, it->second);
      handed_out.emplace_back(strings.Find(id), value);
    }
    for (const auto& [id, value] : reference) ASSERT_EQ(*strings.Find(id), value);
    for (const auto& [pointer, value] : handed_out) ASSERT_EQ(*pointer, value);  // never moved
  }
}

}  // namespace
}  // namespace waitgraph::analyzer
