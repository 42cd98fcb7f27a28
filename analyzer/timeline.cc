#include "analyzer/timeline.h"

#include "absl/strings/str_cat.h"
#include "trace/chunk_file.h"

namespace waitgraph::analyzer {

bool Timeline::Wants(int kind) const {
  return IsLoopLifeEvent(kind) || kind == trace::WAIT_BEGIN || kind == trace::WAIT_TARGET ||
         kind == trace::WAIT_END;
}

void Timeline::OnEvent(const Model& model, const trace::Event& event, TimeNs time) {
  switch (event.kind()) {
    case trace::WAIT_BEGIN:
    case trace::WAIT_TARGET:
    case trace::WAIT_END:
      return OnWait(model, event, time);
    case trace::LOOP_CREATED:
    case trace::LOOP_RUN_BEGIN:
    case trace::LOOP_RUN_END:
    case trace::LOOP_STOPPED:
    case trace::LOOP_CLOSED:
    case trace::LOOP_HANDOFF:
      return OnLoop(model, event, time);
    default:
      return;
  }
}

void Timeline::OnWait(const Model& model, const trace::Event& e, TimeNs time) {
  if (e.kind() == trace::WAIT_BEGIN) {
    WaitSpan span;
    span.id = e.subject();
    span.thread = e.thread();
    span.api = model.String(e.name());
    span.stack = e.stack();
    span.begin = time;
    span.targets.push_back({static_cast<trace::EntityKind>(e.arg() & 0xff), e.object()});
    open_waits_[span.id] = waits_.size();
    waits_.push_back(std::move(span));
    return;
  }
  auto it = open_waits_.find(e.subject());
  if (it == open_waits_.end()) return;  // the model counts dangling references
  WaitSpan& span = waits_[it->second];
  if (e.kind() == trace::WAIT_TARGET) {
    span.targets.push_back({static_cast<trace::EntityKind>(e.arg() & 0xff), e.object()});
    return;
  }
  span.end = time;
  span.timed_out = e.arg() == trace::WAIT_TIMED_OUT;
  span.raised = e.arg() == trace::WAIT_RAISED;
  open_waits_.erase(it);
}

void Timeline::SeeLoop(EntityId loop) {
  if (loops_seen_.insert(loop).second) loops_.push_back(loop);
}

void Timeline::OnLoop(const Model& model, const trace::Event& e, TimeNs time) {
  const EntityId loop = e.subject();
  SeeLoop(loop);
  switch (e.kind()) {
    case trace::LOOP_CREATED:
      loop_marks_.push_back({loop, e.thread(), time, "created", e.stack()});
      return;
    case trace::LOOP_RUN_BEGIN:
      open_runs_[loop].push_back(loop_runs_.size());
      loop_runs_.push_back({loop, e.thread(), time, std::nullopt});
      return;
    case trace::LOOP_RUN_END: {
      auto& open = open_runs_[loop];
      if (open.empty()) return;
      loop_runs_[open.back()].end = time;
      open.pop_back();
      return;
    }
    case trace::LOOP_STOPPED:
      loop_marks_.push_back({loop, e.thread(), time, "stopped", e.stack()});
      return;
    case trace::LOOP_CLOSED:
      loop_marks_.push_back({loop, e.thread(), time, "closed", e.stack()});
      return;
    case trace::LOOP_HANDOFF:
      handoffs_.push_back({loop, e.thread(), time, model.String(e.name()), e.object()});
      return;
    default:
      return;
  }
}

absl::Status ReadHistory(const std::string& path, TraceHistory& history) {
  trace::ChunkFileReader reader(path);
  history.model.AddSink(&history.stalls);
  history.model.AddSink(&history.timeline);
  std::vector<trace::TraceChunk> chunks;
  reader.Poll(chunks);
  for (const trace::TraceChunk& chunk : chunks) history.model.AddChunk(chunk);
  if (history.model.stats().chunks > 0) return absl::OkStatus();
  if (!reader.status().ok()) return reader.status();
  return absl::InvalidArgumentError(
      absl::StrCat(path, " holds no complete chunk (empty or cut off before the first)"));
}

}  // namespace waitgraph::analyzer
