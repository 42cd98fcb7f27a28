#include "cli/timeline_view.h"

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/cycle_picture.h"
#include "cli/report.h"
#include "rules/describe.h"

namespace waitgraph::cli {
namespace {

using analyzer::Model;

class Builder {
 public:
  Builder(const analyzer::TraceHistory& history, const findings::Report& report,
          const std::string& source_root)
      : history_(history), model_(history.model), report_(report), root_(source_root) {}

  TimelineView Build() {
    view_.pid = report_.pid();
    view_.process_name = report_.program().empty() ? absl::StrCat("process ", report_.pid())
                                                   : absl::StrCat(report_.program(), " (pid ", report_.pid(), ")");
    view_.origin = model_.first_time();
    view_.end = model_.last_time();
    AddThreadTracks();
    AddLoopTracks();
    AddWaits();
    AddLoopRuns();
    AddStalls();
    AddHandoffs();
    AddFindings();
    return std::move(view_);
  }

 private:
  // "app.py:12 in main": the user's line of `stack`.
  std::string UserWhere(analyzer::StackId stack) const {
    const analyzer::Frame* f = model_.UserFrame(stack);
    if (f == nullptr) return "";
    findings::Location loc = rules::ToLocation(*f);
    return absl::StrCat(ShortWhere(loc, root_), " in ", f->function);
  }

  size_t ThreadTrack(analyzer::ThreadId tid) {
    auto [it, added] = thread_tracks_.try_emplace(tid, view_.tracks.size());
    if (added) view_.tracks.push_back({tid, model_.ThreadLabel(tid), false});
    return it->second;
  }

  size_t LoopTrack(analyzer::EntityId loop) {
    auto [it, added] = loop_tracks_.try_emplace(loop, view_.tracks.size());
    if (added) {
      size_t number = loop_tracks_.size();
      view_.tracks.push_back({kLoopTrackBase + number,
                              absl::StrCat("loop ", number, ": ", rules::DescribeLoop(model_, loop)), true});
    }
    return it->second;
  }

  void AddThreadTracks() {
    for (const auto& [tid, thread] : model_.threads()) ThreadTrack(tid);
  }

  void AddLoopTracks() {
    for (analyzer::EntityId loop : history_.timeline.loops()) LoopTrack(loop);
  }

  std::string DescribeTarget(const analyzer::Target& target) const {
    switch (target.kind) {
      case trace::ENTITY_THREAD: return absl::StrCat("thread ", model_.ThreadLabel(target.id));
      case trace::ENTITY_FUTURE:
        if (const analyzer::Future* f = model_.FindFuture(target.id); f && !f->producer_reason().empty()) {
          return absl::StrCat("future of ", f->producer_reason());
        }
        return "future";
      case trace::ENTITY_EXECUTOR: return rules::DescribeExecutor(model_, target.id);
      default: {
        std::string kind = trace::EntityKind_Name(target.kind);
        if (kind.rfind("ENTITY_", 0) == 0) kind = kind.substr(7);
        return absl::AsciiStrToLower(kind);
      }
    }
  }

  void AddWaits() {
    for (const analyzer::WaitSpan& w : history_.timeline.waits()) {
      TimelineSpan span;
      span.track = ThreadTrack(w.thread);
      span.begin = w.begin;
      span.end = w.end.value_or(view_.end);
      span.open = !w.end.has_value();
      span.category = "wait";
      span.name = w.api;
      std::vector<std::string> targets;
      for (const analyzer::Target& t : w.targets) targets.push_back(DescribeTarget(t));
      span.args = {{"for", absl::StrJoin(targets, ", ")}, {"where", UserWhere(w.stack)}};
      span.args.push_back({"outcome", span.open ? "still waiting when the trace ends"
                                      : w.timed_out ? "timed out"
                                      : w.raised ? "raised" : "completed"});
      view_.spans.push_back(std::move(span));
    }
  }

  void AddLoopRuns() {
    for (const analyzer::LoopRun& run : history_.timeline.loop_runs()) {
      TimelineSpan span;
      span.track = LoopTrack(run.loop);
      span.begin = run.begin;
      span.end = run.end.value_or(view_.end);
      span.open = !run.end.has_value();
      span.category = "loop";
      span.name = absl::StrCat("running on ", model_.ThreadLabel(run.thread));
      view_.spans.push_back(std::move(span));
    }
    for (const analyzer::LoopMark& mark : history_.timeline.loop_marks()) {
      TimelineInstant instant;
      instant.track = LoopTrack(mark.loop);
      instant.time = mark.time;
      instant.category = "loop";
      instant.name = absl::StrCat("loop ", mark.what);
      instant.args = {{"on", model_.ThreadLabel(mark.thread)}, {"where", UserWhere(mark.stack)}};
      view_.instants.push_back(std::move(instant));
    }
  }

  void AddStalls() {
    for (const analyzer::Stall& stall : history_.stalls.Stalls(model_)) {
      TimelineSpan span;
      span.track = LoopTrack(stall.loop);
      span.begin = stall.begin;
      span.end = stall.end;
      span.open = !stall.finished;
      span.category = "stall";
      span.name = stall.callback.empty() ? "stall (in a callback still running)"
                                         : absl::StrCat("stall: ", stall.callback);
      std::set<std::string> calls;
      std::string where;
      for (const analyzer::StallSample& s : stall.samples) {
        if (!s.call.empty()) calls.insert(s.call);
        if (where.empty()) where = UserWhere(s.stack);
      }
      span.args = {{"thread", model_.ThreadLabel(stall.thread)},
                   {"blocked in", absl::StrJoin(calls, ", ")},
                   {"where", where},
                   {"duration", absl::StrFormat("%.1f ms", stall.duration() / 1e6)}};
      view_.spans.push_back(std::move(span));
    }
  }

  void AddHandoffs() {
    for (const analyzer::LoopHandoff& h : history_.timeline.handoffs()) {
      TimelineFlow flow;
      flow.from = ThreadTrack(h.from);
      flow.to = LoopTrack(h.loop);
      flow.time = h.time;
      flow.name = h.api.empty() ? "hand-off" : h.api;
      flow.args = {{"from", model_.ThreadLabel(h.from)}, {"into", view_.tracks[flow.to].name}};
      view_.flows.push_back(std::move(flow));
    }
  }

  void AddFindings() {
    for (const findings::Finding& f : report_.findings()) {
      TimelineInstant instant;
      instant.time = f.time_ns() != 0 ? f.time_ns() : view_.end;
      instant.category = "finding";
      instant.name = absl::StrCat(f.code(), " ", f.name());
      instant.args = {{"message", f.message()}};
      if (f.has_location()) {
        instant.args.push_back({"where", absl::StrCat(ShortWhere(f.location(), root_), " in ",
                                                      f.location().function())});
      }
      view_.instants.push_back(std::move(instant));
    }
  }

  const analyzer::TraceHistory& history_;
  const Model& model_;
  const findings::Report& report_;
  const std::string& root_;
  TimelineView view_;
  std::map<analyzer::ThreadId, size_t> thread_tracks_;
  std::map<analyzer::EntityId, size_t> loop_tracks_;
};

}  // namespace

absl::Status ReadTraceForPictures(const std::string& path, findings::Report& report,
                                  analyzer::TraceHistory& history) {
  std::string error;
  std::optional<findings::Report> analysed = AnalyzeTraceFile(path, error);
  if (!analysed) return absl::InvalidArgumentError(error);
  report = std::move(*analysed);
  return analyzer::ReadHistory(path, history);
}

TimelineView BuildTimelineView(const analyzer::TraceHistory& history, const findings::Report& report,
                               const std::string& source_root) {
  return Builder(history, report, source_root).Build();
}

}  // namespace waitgraph::cli
