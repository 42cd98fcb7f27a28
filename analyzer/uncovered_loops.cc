#include "analyzer/uncovered_loops.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace waitgraph::analyzer {

void UncoveredLoops::OnEvent(const Model& model, const trace::Event& e, TimeNs) {
  if (e.kind() != trace::LOOP_UNCOVERED) return;
  auto [it, fresh] = loops_.try_emplace(e.subject());
  if (!fresh) return;
  it->second = UncoveredLoop{e.subject(), model.String(e.name()), e.thread(), e.stack()};
}

std::vector<std::string> UncoveredLoops::Notes(const Model& model) const {
  // class -> where its loops were first run
  std::map<std::string, std::set<std::string>> by_class;
  for (const auto& [id, loop] : loops_) {
    std::string where = model.ThreadLabel(loop.first_run_by);
    // The first frame of the program's own code, as for every finding's
    // line (the --source-root notion will refine which frames those are).
    if (const Frame* f = model.UserFrame(loop.first_run_stack); f != nullptr && !f->library) {
      where = absl::StrCat(f->file, ":", f->line, " on ", where);
    }
    by_class[loop.class_name].insert(where);
  }
  std::vector<std::string> notes;
  for (const auto& [name, where] : by_class) {
    notes.push_back(absl::StrCat(
        "not covered: ", where.size() == 1 ? "an event loop " : absl::StrCat(where.size(), " event loops "),
        name, " (run at ", absl::StrJoin(where, "; "),
        ") runs its callbacks, tasks and transports in C, out of the shim's sight: loop-stall, "
        "loop-crossing, closed-loop-use, non-threadsafe-loop-call, lost-context-write (task "
        "context copies) and nothing-can-move (task snapshots) could not check it; thread and "
        "executor waits, hand-offs into it and ContextVar use were recorded (cross-call-deadlock, "
        "executor-starvation, executor-saturation, context-not-propagated, "
        "context-reset-mismatch). Run without uvloop (uvicorn --loop asyncio) for the rest"));
  }
  return notes;
}

}  // namespace waitgraph::analyzer
