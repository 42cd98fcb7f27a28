#include "analyzer/uncovered_loops.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace waitgraph::analyzer {

bool UncoveredLoops::Wants(int kind) const { return kind == trace::LOOP_UNCOVERED; }

void UncoveredLoops::OnEvent(const Model& model, const trace::Event& e, TimeNs) {
  if (e.kind() != trace::LOOP_UNCOVERED) return;
  auto [it, fresh] = loops_.try_emplace(e.subject());
  if (!fresh) return;
  it->second = UncoveredLoop{e.subject(), model.String(e.name()), e.thread(), e.stack()};
}

std::vector<std::string> UncoveredLoops::Notes(const Model& model) const {
  // class -> where its loops were first run, in order, without repeats
  std::map<std::string, std::vector<std::string>> by_class;
  std::map<std::string, size_t> count;
  for (const auto& [id, loop] : loops_) {
    std::string where = model.ThreadLabel(loop.first_run_by);
    // The first frame of the program's own code, as for every finding's
    // line (the --source-root notion will refine which frames those are).
    if (const Frame* f = model.UserFrame(loop.first_run_stack); f != nullptr && !f->library) {
      where = absl::StrCat(f->file, ":", f->line, " on ", where);
    }
    std::vector<std::string>& places = by_class[loop.class_name];
    if (std::find(places.begin(), places.end(), where) == places.end()) places.push_back(where);
    ++count[loop.class_name];
  }
  std::vector<std::string> notes;
  for (const auto& [name, places] : by_class) {
    constexpr size_t kShown = 3;
    std::vector<std::string> shown(places.begin(),
                                   places.begin() + std::min(places.size(), kShown));
    std::string where = absl::StrJoin(shown, "; ");
    if (places.size() > kShown) absl::StrAppend(&where, "; and ", places.size() - kShown, " more");
    size_t n = count.at(name);
    bool uvloop = absl::StartsWith(name, "uvloop.");
    notes.push_back(absl::StrCat(
        "not covered: ", n == 1 ? "an event loop " : absl::StrCat(n, " event loops "), name,
        " (run at ", where, ") ",
        uvloop ? "runs its callbacks, tasks and transports in C, out of the shim's sight"
               : "is not an asyncio.BaseEventLoop, so the shim's loop hooks do not see inside it",
        ": loop-crossing, closed-loop-use, non-threadsafe-loop-call",
        uvloop ? " and nothing-can-move (task snapshots) could not check it; loop-stall sampled "
                 "its thread instead of timing each callback (a stall's length is known to "
                 "within a tenth of the threshold, not what it held up); thread and executor "
                 "waits, hand-offs into it, its tasks' context copies and ContextVar use were "
                 "recorded (cross-call-deadlock, executor-starvation, executor-saturation, "
                 "lost-context-write, context-not-propagated, context-reset-mismatch)"
               : ", loop-stall, lost-context-write (task context copies) and nothing-can-move "
                 "(task snapshots) could not check it; thread and executor waits, hand-offs "
                 "into it and ContextVar use were recorded (cross-call-deadlock, "
                 "executor-starvation, executor-saturation, context-not-propagated, "
                 "context-reset-mismatch)",
        uvloop ? ". Run with the stdlib loop (uvicorn --loop asyncio) for the rest" : ""));
  }
  return notes;
}

void UncoveredLoops::CountKept(KeptCounts& out) const {
  out.push_back({"uncovered_loops.loops", loops_.size()});
}

}  // namespace waitgraph::analyzer
