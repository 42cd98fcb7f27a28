#include "rules/loop_stall.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <set>
#include <map>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "rules/describe.h"

namespace waitgraph::rules {
namespace {

using analyzer::Model;
using analyzer::Stall;
using analyzer::TimeNs;

// Stalls this long or longer make the finding an error.
TimeNs ErrorThresholdNs() { return ThresholdFromEnv("WAITGRAPH_STALL_ERROR_MS", 1000); }

std::string Secs(TimeNs ns) { return absl::StrFormat("%.3f s", static_cast<double>(ns) / 1e9); }

// What one target of a recorded wait is waiting for, in the wait-for
// graph's terms: who must act for the wait to end.
std::string DescribeTarget(const Model& model, const analyzer::StallSample& sample,
                           const analyzer::Target& t) {
  switch (t.kind) {
    case trace::ENTITY_THREAD:
      return absl::StrCat("thread ", model.ThreadLabel(t.id), " to finish");
    case trace::ENTITY_FUTURE: {
      auto it = sample.futures.find(t.id);
      const analyzer::Future* f = it != sample.futures.end() ? &it->second : nullptr;
      if (f == nullptr) return "a future";
      switch (f->producer_kind) {
        case analyzer::ProducerKind::kExecutor:
          return absl::StrCat(f->producer_reason.empty() ? "work" : f->producer_reason, " on ",
                              DescribeExecutor(model, f->producer));
        case analyzer::ProducerKind::kLoop:
          return absl::StrCat("a coroutine on ", DescribeLoop(model, f->producer));
        case analyzer::ProducerKind::kThread:
          return absl::StrCat("a future completed by thread ", model.ThreadLabel(f->producer));
        default: return "a future";
      }
    }
    case trace::ENTITY_EXECUTOR:
      return absl::StrCat("the running work of ", DescribeExecutor(model, t.id));
    case trace::ENTITY_QUEUE: return "an item on a queue.Queue";
    case trace::ENTITY_EVENT: return "a threading.Event to be set";
    case trace::ENTITY_CONDITION: return "a threading.Condition to be notified";
    case trace::ENTITY_LOCK: return "a lock";
    default: return "something unrecorded";
  }
}

// "time.sleep" or "Future.result (waiting for work on executor ...)".
std::string BlockingCall(const Model& model, const analyzer::StallSample& sample) {
  if (sample.wait) {
    if (const analyzer::Wait* w = &*sample.wait) {
      std::vector<std::string> targets;
      for (const auto& t : w->targets) targets.push_back(DescribeTarget(model, sample, t));
      return absl::StrCat(w->api, " (waiting for ",
                          absl::StrJoin(targets, w->any_of ? " or " : " and "), ")");
    }
  }
  // "python:..." : the thread held the GIL, i.e. it was computing.
  if (sample.call.rfind("python:", 0) == 0) return "";
  return sample.call;
}

// The sample that best shows the stall: the first one in a call, else the
// first.
const analyzer::StallSample* BestSample(const Stall& s) {
  for (const auto& sample : s.samples) {
    if (sample.wait || (!sample.call.empty() && sample.call.rfind("python:", 0) != 0)) {
      return &sample;
    }
  }
  return s.samples.empty() ? nullptr : &s.samples.front();
}

// "2 ready callbacks (task handle_ping, ...) delayed by up to 0.500 s".
std::string DescribeDelay(const analyzer::StallDelay& d) {
  std::string what = d.what, names;
  if (size_t colon = what.find(": "); colon != std::string::npos) {
    names = what.substr(colon + 2);
    what = what.substr(0, colon);
  }
  std::string s = d.count == 1 ? "" : "s";
  std::string list = names.empty() ? "" : absl::StrCat(" (", names, ")");
  if (what == "ready") {
    return absl::StrCat(d.count, " ready callback", s, list, " delayed by up to ", Secs(d.delay));
  }
  if (what == "timers") {
    return absl::StrCat(d.count, " timer", s, list, " late by up to ", Secs(d.delay));
  }
  if (what == "sockets") {
    return absl::StrCat(d.count, " socket", s, " with input nobody read", list, " for up to ",
                        Secs(d.delay));
  }
  return absl::StrCat(d.count, " ", d.what, " delayed by up to ", Secs(d.delay));
}

// "report() at app.py:19, in slow() at app.py:24": the innermost user frame
// and the user frames that called it (up to three).
std::string UserFrames(const Model& model, analyzer::StackId stack) {
  std::vector<std::string> out;
  for (const analyzer::Frame* f : model.StackFrames(stack)) {
    if (f->library) {
      if (!out.empty()) break;  // the user's code ends where a framework called it
      continue;
    }
    out.push_back(absl::StrCat(f->function, "() at ", f->file, ":", f->line));
    if (out.size() == 3) break;
  }
  return absl::StrJoin(out, ", in ");
}

struct Site {
  std::vector<const Stall*> stalls;
  const Stall* longest = nullptr;
  TimeNs total = 0;
};

}  // namespace

const RuleInfo& LoopStallRule::info() const { return *FindRuleInfo("loop-stall"); }

void LoopStallRule::Check(const AnalysisInput& input, std::vector<findings::Finding>& out) const {
  if (input.stalls == nullptr) return;
  const Model& model = input.model;
  std::vector<Stall> stalls = input.stalls->Stalls(model);
  // A loop thread still stuck in a deadlock is that deadlock's story
  // (cross-call-deadlock, executor-starvation), not a stall to report too.
  std::set<analyzer::ThreadId> deadlocked;
  for (const auto& d : input.deadlocks) {
    for (const auto& node : d.cycle) {
      if (node.kind == analyzer::NodeKind::kThread) deadlocked.insert(node.id);
    }
    deadlocked.insert(d.also_blocked.begin(), d.also_blocked.end());
  }
  stalls.erase(std::remove_if(stalls.begin(), stalls.end(),
                              [&](const Stall& s) {
                                return !s.finished && deadlocked.count(s.thread) > 0;
                              }),
               stalls.end());
  // One finding per place: (loop, blocking call, user frame).
  using Key = std::tuple<analyzer::EntityId, std::string, std::string, std::string, uint32_t>;
  std::map<Key, Site> sites;
  std::vector<Key> order;
  for (const Stall& s : stalls) {
    const analyzer::StallSample* sample = BestSample(s);
    std::string call = sample ? BlockingCall(model, *sample) : "";
    const analyzer::Frame* user = sample ? model.UserFrame(sample->stack) : nullptr;
    Key key{s.loop, call, user ? user->file : s.callback, user ? user->function : "",
            user ? user->line : 0};
    auto [it, fresh] = sites.try_emplace(key);
    if (fresh) order.push_back(key);
    Site& site = it->second;
    site.stalls.push_back(&s);
    // Saturating: a crafted trace's stalls may each last up to the clock's end.
    site.total = s.duration() > std::numeric_limits<TimeNs>::max() - site.total
                     ? std::numeric_limits<TimeNs>::max()
                     : site.total + s.duration();
    if (site.longest == nullptr || s.duration() > site.longest->duration()) site.longest = &s;
  }

  const TimeNs error_ns = ErrorThresholdNs();
  for (const Key& key : order) {
    auto found = sites.find(key);
    if (found == sites.end()) continue;
    const Site& site = found->second;
    const Stall& s = *site.longest;
    const analyzer::StallSample* sample = BestSample(s);
    findings::Finding f = NewFinding(info());
    if (s.duration() >= error_ns) f.set_severity(findings::ERROR);

    std::string where = s.loop != 0 ? DescribeLoop(model, s.loop) : "an event loop";
    std::string what;
    const analyzer::Frame* user = sample ? model.UserFrame(sample->stack) : nullptr;
    std::string call = sample ? BlockingCall(model, *sample) : "";
    if (user != nullptr) {
      std::string frame = UserFrames(model, sample->stack);
      what = call.empty() ? absl::StrCat("running Python code in ", frame)
                          : absl::StrCat("in ", call, " called from ", frame);
      *f.mutable_location() = ToLocation(*user);
      for (auto& loc : ToStack(model, sample->stack)) *f.add_stack() = std::move(loc);
    } else {
      what = "(no sample: it ended before the watchdog looked)";
    }
    if (!s.callback.empty()) absl::StrAppend(&what, " (", s.callback, ")");

    std::string often =
        site.stalls.size() == 1
            ? "seen once"
            : absl::StrCat("seen ", site.stalls.size(), " times, ", Secs(site.total), " in all");
    std::vector<std::string> delayed;
    for (const auto& d : s.delayed) delayed.push_back(DescribeDelay(d));
    std::string meanwhile =
        delayed.empty() ? "" : absl::StrCat("; held up meanwhile: ", absl::StrJoin(delayed, "; "));
    f.set_message(absl::StrCat(where, " on ", model.ThreadLabel(s.thread), " was blocked for ",
                               Secs(s.duration()), " ", what, "; ", often,
                               s.finished ? "" : " (still blocked when the trace ended)",
                               meanwhile));
    f.set_fix(
        "do not block the event loop: await an async equivalent (asyncio.sleep, an async "
        "client), or move the blocking call to a thread (await asyncio.to_thread(...), "
        "loop.run_in_executor, Starlette's run_in_threadpool)");
    f.set_time_ns(site.stalls.front()->begin);
    f.set_held_seconds(static_cast<double>(s.duration()) / 1e9);
    for (const auto& extra : s.samples) {
      if (&extra == sample) continue;
      findings::RelatedLocation rel;
      rel.set_role("sampled during the stall");
      rel.set_message(absl::StrCat("after ", Secs(extra.elapsed), ": ",
                                   BlockingCall(model, extra).empty()
                                       ? std::string("running Python code")
                                       : BlockingCall(model, extra)));
      if (const analyzer::Frame* fr = model.UserFrame(extra.stack)) {
        *rel.mutable_location() = ToLocation(*fr);
      }
      for (auto& loc : ToStack(model, extra.stack)) *rel.add_stack() = std::move(loc);
      *f.add_related() = std::move(rel);
      if (f.related_size() >= 3) break;
    }
    std::string api = std::get<1>(key).substr(0, std::get<1>(key).find(' '));
    SetFingerprint(f, {sample ? FingerprintPart(model, api.empty() ? "python" : api, sample->stack)
                              : s.callback});
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
