#include "rules/loop_churn.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rules/describe.h"

namespace waitgraph::rules {
namespace {

// A loop that is made, run and closed within this is "short-lived".
constexpr analyzer::TimeNs kShortLived = 5'000'000'000;
// Fewer than this on one thread is ordinary (a script's asyncio.run, a
// test or two); the note is about one-loop-per-call patterns.
constexpr size_t kChurnThreshold = 5;

}  // namespace

const RuleInfo& LoopChurnRule::info() const { return *FindRuleInfo("loop-churn"); }

void LoopChurnRule::Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const {
  if (input.loop_affinity == nullptr) return;
  const analyzer::Model& model = input.model;
  const analyzer::LoopAffinity& affinity = *input.loop_affinity;
  for (const analyzer::LoopsMadeOnThread& made : affinity.LoopsByCreatingThread()) {
    std::vector<const analyzer::LoopLife*> short_lived;
    for (analyzer::EntityId id : made.loops) {
      const analyzer::LoopLife* l = affinity.FindLoop(id);
      if (l != nullptr && l->closed_at && *l->closed_at - l->created_at <= kShortLived) {
        short_lived.push_back(l);
      }
    }
    if (short_lived.size() < kChurnThreshold) continue;
    // Where they come from: count per origin (the user's line and the API).
    std::map<std::string, int> by_origin;
    std::map<std::string, const analyzer::LoopLife*> example;
    for (const analyzer::LoopLife* l : short_lived) {
      std::string origin = affinity.DescribeLoopOrigin(model, l->id);
      // Drop the per-loop tail (threads, closed) so that one site is one origin.
      if (size_t on = origin.find(" on "); on != std::string::npos) origin.resize(on);
      ++by_origin[origin];
      example.emplace(origin, l);
    }
    std::vector<std::pair<int, std::string>> ranked;
    for (const auto& [origin, n] : by_origin) ranked.push_back({n, origin});
    std::sort(ranked.rbegin(), ranked.rend());
    std::vector<std::string> sources;
    for (const auto& [n, origin] : ranked) {
      // "6 event loops made by ...": the origin is told of one loop.
      std::string text = origin;
      if (n != 1 && absl::StartsWith(text, "event loop ")) text.insert(strlen("event loop"), "s");
      sources.push_back(absl::StrCat(n, " ", text));
    }
    findings::Finding f = NewFinding(info());
    f.set_message(
        absl::StrCat(model.ThreadLabel(made.thread), " made ", short_lived.size(),
                     " short-lived event loops, each run and closed within ",
                     kShortLived / 1'000'000'000, " s: ", absl::StrJoin(sources, "; "),
                     "; async clients, connections and queues cannot be shared between them"));
    f.set_headline(absl::StrCat(model.ThreadLabel(made.thread), " made ", short_lived.size(),
                                " short-lived event loops"));
    f.set_fix(
        "run the async work of one request (or the whole worker) on one long-lived loop: an "
        "ASGI server, one async_to_sync around the whole request, or a loop kept in a thread");
    const analyzer::LoopLife* top = example[ranked.front().second];
    f.set_time_ns(top->created_at);
    // The user's line, else the framework that made the loops (not asyncio).
    if (const analyzer::Frame* fr = analyzer::LoopAffinity::SiteFrame(model, top->created_stack)) {
      *f.mutable_location() = ToLocation(*fr);
    }
    for (auto& loc : ToStack(model, top->created_stack)) *f.add_stack() = std::move(loc);
    SetFingerprint(f, {FingerprintPart(model, "loop", top->created_stack)});
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
