#include "analyzer/stall_model.h"

#include <algorithm>

namespace waitgraph::analyzer {
namespace {

// When a stall of `elapsed` ns that is seen at `time` began: never before
// the clock's start or after `time`, whatever a (hostile) trace says, so
// that no later subtraction overflows.
TimeNs StallBegin(TimeNs time, int64_t elapsed) {
  return time - std::clamp<int64_t>(elapsed, 0, time);
}

}  // namespace

bool StallModel::Wants(int kind) const {
  return kind == trace::LOOP_STALL_SAMPLE || kind == trace::LOOP_STALL || kind == trace::LOOP_STALL_GC ||
         kind == trace::LOOP_STALL_DELAYED || kind == trace::LOOP_STALL_GIL;
}

void StallModel::OnEvent(const Model& model, const trace::Event& e, TimeNs time) {
  switch (e.kind()) {
    case trace::LOOP_STALL_SAMPLE: {
      auto [it, fresh] = stalls_.try_emplace(e.subject());
      Stall& s = it->second;
      if (fresh) {
        s.id = e.subject();
        s.thread = e.thread();
        s.begin = StallBegin(time, e.arg());
        order_.push_back(s.id);
      }
      StallSample sample;
      sample.time = time;
      sample.elapsed = e.arg();
      sample.stack = e.stack();
      sample.call = model.String(e.name());
      if (const Thread* t = model.FindThread(e.thread()); t && !t->active_waits.empty()) {
        if (const Wait* w = model.FindWait(t->active_waits.front())) {
          sample.wait = *w;
          for (const Target& target : w->targets) {
            if (const Future* f = model.FindFuture(target.id);
                f && target.kind == trace::ENTITY_FUTURE) {
              sample.futures[target.id] = *f;
            }
          }
        }
      }
      if (s.loop == 0 && e.object() != 0) s.loop = e.object();
      if (s.loop == 0) {
        if (const Thread* t = model.FindThread(e.thread()); t && !t->loops_running.empty()) {
          s.loop = t->loops_running.back();
        }
      }
      // Each sample copies a wait: a bounded number in all, the first ones.
      if (samples_kept_ < kMaxSamples) {
        ++samples_kept_;
        s.samples.push_back(std::move(sample));
      }
      break;
    }
    case trace::LOOP_STALL: {
      auto [it, fresh] = stalls_.try_emplace(e.subject());
      Stall& s = it->second;
      if (fresh) {
        s.id = e.subject();
        order_.push_back(s.id);
      }
      s.thread = e.thread();
      s.end = time;
      s.begin = StallBegin(time, e.arg());
      s.finished = true;
      if (e.object() != 0) s.loop = e.object();
      s.callback = model.String(e.name());
      break;
    }
    case trace::LOOP_STALL_GIL: {
      // Belongs to the sample just before it (same stall, same thread).
      auto it = stalls_.find(e.subject());
      if (it == stalls_.end() || it->second.samples.empty()) break;
      StallSample& sample = it->second.samples.back();
      if (sample.time > time || it->second.thread != e.thread()) break;
      sample.gil_wait = true;
      sample.gil_holder = e.object();
      sample.gil_waited = std::max<int64_t>(e.arg(), 0);
      break;
    }
    case trace::LOOP_STALL_GC: {
      auto it = stalls_.find(e.subject());
      if (it == stalls_.end()) break;
      it->second.gc.push_back(
          StallGc{e.thread(), static_cast<int>(e.object()), static_cast<TimeNs>(e.arg())});
      break;
    }
    case trace::LOOP_STALL_DELAYED: {
      auto it = stalls_.find(e.subject());
      if (it == stalls_.end()) break;
      it->second.delayed.push_back(
          StallDelay{e.object(), static_cast<TimeNs>(e.arg()), model.String(e.name())});
      break;
    }
    default: break;
  }
}

std::vector<Stall> StallModel::Stalls(const Model& model) const {
  std::vector<Stall> out;
  for (EntityId id : order_) {
    auto it = stalls_.find(id);
    if (it == stalls_.end()) continue;
    Stall s = it->second;
    if (!s.finished) s.end = std::max(model.last_time(), s.begin);
    out.push_back(std::move(s));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Stall& a, const Stall& b) { return a.begin < b.begin; });
  return out;
}

void StallModel::CountKept(KeptCounts& out) const {
  out.insert(out.end(), {{"stalls.stalls", stalls_.size()}, {"stalls.samples", samples_kept_}});
}

}  // namespace waitgraph::analyzer
