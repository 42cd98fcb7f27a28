#include "analyzer/saturation.h"

#include <algorithm>

namespace waitgraph::analyzer {
namespace {

constexpr int64_t kLimiterWaiting = 0, kLimiterAcquired = 1, kLimiterReleased = 2;

int KeyKind(PoolKind kind) { return kind == PoolKind::kExecutor ? 0 : 1; }

}  // namespace

// A few kinds in every twenty events: not called (a virtual call) for the rest.
bool SaturationModel::Wants(int kind) const {
  switch (kind) {
    case trace::EXECUTOR_SUBMIT:
    case trace::WORK_BEGIN:
    case trace::WORK_END:
    case trace::EXECUTOR_SHUTDOWN:
    case trace::FUTURE_DONE:
    case trace::WAIT_BEGIN:
    case trace::LIMITER_TOKEN:
    case trace::HOLDER_SAMPLE:
      return true;
    default:
      return false;
  }
}

void SaturationModel::OnEvent(const Model& model, const trace::Event& e, TimeNs time) {
  switch (e.kind()) {
    case trace::EXECUTOR_SUBMIT:
      jobs_[e.object()] = Job{&model.String(e.name()), e.stack(), e.subject()};
      UpdateExecutor(model, e.subject(), time);
      break;
    case trace::WORK_BEGIN:
    case trace::EXECUTOR_SHUTDOWN:
      UpdateExecutor(model, e.subject(), time);
      break;
    case trace::WORK_END:
      UpdateExecutor(model, e.subject(), time);
      jobs_.erase(e.object());
      break;
    case trace::FUTURE_DONE:
      // Done before it began (cancelled while queued): it never runs, so
      // it never holds a worker (a job that runs ends with WORK_END).
      if (auto j = jobs_.find(e.subject()); j != jobs_.end()) {
        const Executor* ex = model.FindExecutor(j->second.executor);
        if (ex == nullptr || !ex->running.contains(e.subject())) jobs_.erase(j);
      }
      break;
    case trace::WAIT_BEGIN:
      // A holder that starts to wait: what it waits for is what holds the
      // pool. Only open episodes need it.
      for (auto& [key, index] : open_) RefreshHolderWaits(model, episodes_[index]);
      break;
    case trace::LIMITER_TOKEN: {
      Limiter& l = limiters_[e.subject()];
      int64_t phase = e.arg() & 0xff;
      if ((e.arg() >> 8) > 0) l.total = static_cast<int>(e.arg() >> 8);
      if (phase == kLimiterWaiting) {
        l.waiters.insert(e.object());
      } else if (phase == kLimiterAcquired) {
        l.waiters.erase(e.object());
        l.holders.insert(e.object());
      } else if (phase == kLimiterReleased) {
        l.holders.erase(e.object());
      }
      UpdateLimiter(e.subject(), time);
      if (phase == kLimiterWaiting) {
        if (auto it = open_.find({KeyKind(PoolKind::kLimiter), e.subject()});
            it != open_.end() && episodes_[it->second].queued_stack == 0) {
          episodes_[it->second].queued_stack = e.stack();
        }
      }
      break;
    }
    case trace::HOLDER_SAMPLE: {
      auto it = open_.find({KeyKind(PoolKind::kLimiter), e.subject()});
      if (it == open_.end()) break;
      SaturationEpisode& ep = episodes_[it->second];
      PoolHolder h;
      h.thread = e.object();
      h.thread_name = model.String(e.name());
      h.stack = e.stack();
      if (const Thread* t = model.FindThread(h.thread); t && !t->active_waits.empty()) {
        if (const Wait* w = model.FindWait(t->active_waits.front())) h.wait = *w;
      }
      // Each holder copies its wait, refreshed on every event: a bounded few.
      if (ep.holders.size() < model.limits().per_entity) ep.holders.push_back(std::move(h));
      break;
    }
    default: break;
  }
}

void SaturationModel::RefreshHolderWaits(const Model& model, SaturationEpisode& ep) {
  for (PoolHolder& h : ep.holders) {
    if (h.wait || h.thread == 0) continue;
    if (const Thread* t = model.FindThread(h.thread); t && !t->active_waits.empty()) {
      if (const Wait* w = model.FindWait(t->active_waits.front())) h.wait = *w;
    }
  }
}

void SaturationModel::UpdateExecutor(const Model& model, EntityId id, TimeNs time) {
  const Executor* ex = model.FindExecutor(id);
  // A CurrentThreadExecutor serializes on its thread by design: not a pool.
  if (ex == nullptr || ex->max_workers <= 0 || ex->own_thread != 0) return;
  bool saturated = static_cast<int>(ex->running.size()) >= ex->max_workers && !ex->queued.empty();
  auto key = std::make_pair(KeyKind(PoolKind::kExecutor), id);
  auto it = open_.find(key);
  if (saturated && it == open_.end()) {
    SaturationEpisode ep;
    ep.kind = PoolKind::kExecutor;
    ep.pool = id;
    ep.capacity = ex->max_workers;
    ep.begin = time;
    ep.open = true;
    for (const auto& [future, worker] : ex->running) {
      PoolHolder h;
      h.thread = worker;
      h.thread_name = model.ThreadLabel(worker);
      if (auto j = jobs_.find(future); j != jobs_.end()) {
        h.job = *j->second.name;
        h.stack = j->second.stack;
      }
      if (ep.holders.size() < model.limits().per_entity) ep.holders.push_back(std::move(h));
    }
    RefreshHolderWaits(model, ep);
    ep.max_queued = ex->queued.size();
    open_[key] = episodes_.size();
    episodes_.push_back(std::move(ep));
  } else if (saturated) {
    SaturationEpisode& ep = episodes_[it->second];
    ep.max_queued = std::max(ep.max_queued, ex->queued.size());
  } else if (it != open_.end()) {
    SaturationEpisode& ep = episodes_[it->second];
    ep.end = time;
    ep.open = false;
    open_.erase(it);
    DropShortestIfFull();
  }
}

void SaturationModel::UpdateLimiter(EntityId id, TimeNs time) {
  const Limiter& l = limiters_[id];
  bool saturated = !l.waiters.empty();
  auto key = std::make_pair(KeyKind(PoolKind::kLimiter), id);
  auto it = open_.find(key);
  if (saturated && it == open_.end()) {
    SaturationEpisode ep;
    ep.kind = PoolKind::kLimiter;
    ep.pool = id;
    ep.capacity = l.total;
    ep.begin = time;
    ep.open = true;
    ep.max_queued = l.waiters.size();
    open_[key] = episodes_.size();
    episodes_.push_back(std::move(ep));
  } else if (saturated) {
    SaturationEpisode& ep = episodes_[it->second];
    ep.max_queued = std::max(ep.max_queued, l.waiters.size());
  } else if (it != open_.end()) {
    SaturationEpisode& ep = episodes_[it->second];
    ep.end = time;
    ep.open = false;
    open_.erase(it);
    DropShortestIfFull();
  }
}

void SaturationModel::DropShortestIfFull() {
  if (episodes_.size() <= kMaxEpisodes) return;
  size_t shortest = episodes_.size();
  for (size_t i = 0; i < episodes_.size(); ++i) {
    if (episodes_[i].open) continue;
    if (shortest == episodes_.size() || episodes_[i].duration() < episodes_[shortest].duration()) {
      shortest = i;
    }
  }
  if (shortest == episodes_.size()) return;
  episodes_.erase(episodes_.begin() + static_cast<std::ptrdiff_t>(shortest));
  ++episodes_dropped_;
  for (auto& [key, index] : open_) {
    if (index > shortest) --index;
  }
}

std::vector<SaturationEpisode> SaturationModel::Episodes(const Model& model) const {
  std::vector<SaturationEpisode> out = episodes_;
  for (SaturationEpisode& ep : out) {
    if (ep.open) ep.end = std::max(model.last_time(), ep.begin);
  }
  return out;
}

void SaturationModel::CountKept(KeptCounts& out) const {
  uint64_t limiter_entries = 0;
  for (const auto& [id, l] : limiters_) limiter_entries += l.holders.size() + l.waiters.size();
  out.insert(out.end(), {
      {"saturation.jobs", jobs_.size()},
      {"saturation.limiters", limiters_.size()},
      {"saturation.limiter_entries", limiter_entries},
      {"saturation.episodes", episodes_.size()},
  });
}

}  // namespace waitgraph::analyzer
