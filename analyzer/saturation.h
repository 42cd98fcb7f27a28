// Saturated bounded executors and limiters: spans of time in which every
// worker (ThreadPoolExecutor, including a loop's default executor) or every
// token (anyio's CapacityLimiter, what Starlette's threadpool goes through)
// was taken and work queued behind them, with what held them.
#ifndef WAITGRAPH_ANALYZER_SATURATION_H_
#define WAITGRAPH_ANALYZER_SATURATION_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "analyzer/model.h"

namespace waitgraph::analyzer {

enum class PoolKind { kExecutor, kLimiter };

// One worker or token holder while the pool was saturated.
struct PoolHolder {
  ThreadId thread = 0;     // the worker thread (0 if unknown)
  std::string thread_name;
  std::string job;         // the submitted callable (executors)
  StackId stack = 0;       // its stack: sampled (limiters) or where submitted
  std::optional<Wait> wait;  // the worker's outermost recorded wait then (a copy)
};

struct SaturationEpisode {
  PoolKind kind = PoolKind::kExecutor;
  EntityId pool = 0;
  int capacity = 0;
  TimeNs begin = 0;
  TimeNs end = 0;        // for an open episode: the trace's last time
  bool open = false;
  size_t max_queued = 0;
  std::vector<PoolHolder> holders;
  StackId queued_stack = 0;  // where the first queued request waited (limiters)
  TimeNs duration() const { return end - begin; }
};

class SaturationModel : public EventSink {
 public:
  void OnEvent(const Model& model, const trace::Event& event, TimeNs time) override;
  bool Wants(int kind) const override;
  void CountKept(KeptCounts& out) const override;

  // Every episode in order of beginning; open ones end at the last time.
  std::vector<SaturationEpisode> Episodes(const Model& model) const;
  // Bounded (issue 13 item 8: a service saturated now and then for days
  // makes an episode each time): past kMaxEpisodes, the shortest closed
  // episode is dropped (the rule reports each pool's longest, and those
  // past its threshold). How many were dropped, for the report's note.
  static constexpr size_t kMaxEpisodes = 10000;
  uint64_t episodes_dropped() const { return episodes_dropped_; }

 private:
  struct Job {
    const std::string* name = nullptr;  // the model's interned string, not a copy
    StackId stack = 0;
    EntityId executor = 0;
  };
  struct Limiter {
    int total = 0;
    std::set<EntityId> holders;
    std::set<EntityId> waiters;
  };
  void UpdateExecutor(const Model& model, EntityId executor, TimeNs time);
  void UpdateLimiter(EntityId limiter, TimeNs time);
  void RefreshHolderWaits(const Model& model, SaturationEpisode& episode);
  void DropShortestIfFull();

  // Executor work future -> what was submitted: an entry per job in flight,
  // added and dropped for every job, so a flat table (no node each). A job
  // cancelled before it began never ends: dropped when its future is done.
  absl::flat_hash_map<EntityId, Job> jobs_;
  std::map<EntityId, Limiter> limiters_;
  std::map<std::pair<int, EntityId>, size_t> open_;  // (kind, pool) -> episodes_ index
  std::vector<SaturationEpisode> episodes_;
  uint64_t episodes_dropped_ = 0;
};

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_SATURATION_H_
