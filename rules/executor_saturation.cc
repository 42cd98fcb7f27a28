#include "rules/executor_saturation.h"

#include <cstdlib>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "analyzer/class_graph.h"
#include "rules/describe.h"

namespace waitgraph::rules {
namespace {

using analyzer::Model;
using analyzer::PoolKind;
using analyzer::SaturationEpisode;
using analyzer::TimeNs;

// Queued at least this long before it counts.
TimeNs ThresholdNs() { return ThresholdFromEnv("WAITGRAPH_SATURATION_MS", 500); }

std::string Secs(TimeNs ns) { return absl::StrFormat("%.2f s", static_cast<double>(ns) / 1e9); }

std::string DescribePool(const Model& model, const SaturationEpisode& ep) {
  if (ep.kind == PoolKind::kExecutor) return DescribeExecutor(model, ep.pool);
  return absl::StrCat("anyio CapacityLimiter (total_tokens=", ep.capacity,
                      "; Starlette's run_in_threadpool and iterate_in_threadpool use the "
                      "default one)");
}

// "AnyIO worker thread in stream_chunks() at app.py:31, waiting in queue.Queue.get".
std::string DescribeHolder(const Model& model, const analyzer::PoolHolder& h) {
  std::string out = h.thread_name.empty() ? model.ThreadLabel(h.thread) : h.thread_name;
  const analyzer::Wait* wait = h.wait ? &*h.wait : nullptr;
  analyzer::StackId stack = h.stack;
  if (!h.job.empty()) absl::StrAppend(&out, " runs ", h.job);
  if (wait != nullptr) {
    stack = wait->stack;
  }
  if (const analyzer::Frame* f = model.UserFrame(stack)) {
    absl::StrAppend(&out, h.job.empty() ? " in " : " from ", f->function, "() at ", f->shown_path(),
                    ":", f->line);
  }
  if (wait != nullptr) absl::StrAppend(&out, ", waiting in ", wait->api);
  return out;
}

analyzer::StackId HolderStack(const analyzer::PoolHolder& h) { return h.wait ? h.wait->stack : h.stack; }

// The holder a finding points at, the same from run to run whichever
// episode happened to last longest: the first (in time) whose stack
// reaches the program's own code; else the first with any frame (a holder
// submitted from library code only, e.g. asyncio's run_in_executor called
// by a task that is asgiref's own coroutine). Null if none has a stack.
const analyzer::PoolHolder* PrimaryHolder(const Model& model,
                                          const std::vector<const SaturationEpisode*>& episodes) {
  const analyzer::PoolHolder* any = nullptr;
  for (const SaturationEpisode* ep : episodes) {
    for (const auto& h : ep->holders) {
      const analyzer::Frame* fr = model.UserFrame(HolderStack(h));
      if (fr == nullptr) continue;
      if (!fr->library) return &h;
      if (any == nullptr) any = &h;
    }
  }
  return any;
}

// What identifies the finding across runs: the pool's kind and every
// holder of every episode past the threshold (sorted, unique), not only
// the longest episode's.
std::vector<std::string> FingerprintParts(const Model& model,
                                          const std::vector<const SaturationEpisode*>& episodes) {
  std::vector<std::string> parts{episodes.front()->kind == PoolKind::kExecutor ? "executor" : "limiter"};
  for (const SaturationEpisode* ep : episodes) {
    for (const auto& h : ep->holders) {
      parts.push_back(FingerprintPart(model, h.job.empty() ? "holder" : h.job, HolderStack(h)));
    }
  }
  std::sort(parts.begin(), parts.end());
  parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
  return parts;
}

constexpr char kDoNotHold[] =
    "do not hold a worker while waiting for something slow (a lock, another request, a "
    "queue)";

// The fix for a saturated ThreadPoolExecutor: what applies depends on who
// made it and whether its size can be changed at all.
std::string ExecutorFix(const Model& model, analyzer::EntityId executor) {
  const analyzer::Executor* ex = model.FindExecutor(executor);
  const analyzer::Frame* maker = ex == nullptr ? nullptr : analyzer::LibraryMaker(model, *ex);
  if (maker == nullptr) {
    const analyzer::Frame* site = ex == nullptr ? nullptr : model.UserFrame(ex->created_stack);
    std::string where = site != nullptr && !site->library
                            ? absl::StrCat(" where it is made (", analyzer::ShortLocation(*site), ")")
                            : "";
    return absl::StrCat(kDoNotHold, "; give long jobs an executor of their own, or raise "
                        "max_workers", where, " if the work is really CPU or I/O bound");
  }
  bool asgiref = absl::EndsWith(maker->file, "asgiref/sync.py");
  if (asgiref && ex->name_prefix == "CurrentThreadExecutor") {
    return std::string(
        "asgiref's CurrentThreadExecutor is the thread blocked in async_to_sync and has exactly "
        "one worker, by design (its size cannot be changed): keep slow thread-sensitive work "
        "out of the coroutine it runs, or mark sync_to_async calls that need no particular "
        "thread thread_sensitive=False");
  }
  if (asgiref) {
    return std::string(
        "asgiref's thread-sensitive executor has exactly one thread, by design (its size cannot "
        "be changed: thread-sensitive code, such as Django's ORM, must all run on one thread): "
        "run work that is not tied to that thread with sync_to_async(func, "
        "thread_sensitive=False), keep slow waits out of thread-sensitive functions, or give "
        "each request its own thread with asgiref.sync.ThreadSensitiveContext");
  }
  if (absl::EndsWith(maker->file, "asyncio/base_events.py")) {
    return absl::StrCat(
        kDoNotHold, "; the loop's default executor (used by run_in_executor(None, ...) and "
        "asyncio.to_thread) has min(32, CPUs + 4) workers unless replaced: pass an executor of "
        "your own to run_in_executor for long jobs, or install a bigger default with "
        "loop.set_default_executor(ThreadPoolExecutor(max_workers=N))");
  }
  return absl::StrCat(kDoNotHold, "; the pool was made by library code (",
                      analyzer::ShortLocation(*maker), " in ", maker->function,
                      "): see whether that library lets you size it, else keep long waits out of "
                      "the work you hand it");
}

// The fix for a saturated anyio CapacityLimiter.
std::string LimiterFix() {
  return std::string(
      "do not hold a thread token while waiting for something slow (a stream's next chunk, a "
      "lock, another request): produce streams with an async generator (Starlette runs a sync "
      "iterator's every step in the threadpool) and give long jobs a limiter of their own; if "
      "the work is really CPU or I/O bound, raise the tokens at start-up: "
      "anyio.to_thread.current_default_thread_limiter().total_tokens = N (the default limiter, "
      "40 tokens, is the one Starlette's run_in_threadpool uses), or the total_tokens of the "
      "CapacityLimiter you made");
}

}  // namespace

const RuleInfo& ExecutorSaturationRule::info() const {
  return *FindRuleInfo("executor-saturation");
}

void ExecutorSaturationRule::Check(const AnalysisInput& input,
                                   std::vector<findings::Finding>& out) const {
  if (input.saturation == nullptr) return;
  const Model& model = input.model;
  // A pool whose queue is on a deadlock cycle (starved by itself or by
  // another pool) is reported as that deadlock already.
  std::set<analyzer::EntityId> starved;
  for (const auto& d : input.deadlocks) {
    for (const analyzer::NodeKey& n : d.cycle) {
      if (n.kind == analyzer::NodeKind::kExecutorQueue) starved.insert(n.id);
    }
  }
  const TimeNs threshold = ThresholdNs();
  std::vector<SaturationEpisode> episodes = input.saturation->Episodes(model);
  struct Pool {
    std::vector<const SaturationEpisode*> episodes;
    const SaturationEpisode* longest = nullptr;
    size_t max_queued = 0;
  };
  std::map<std::pair<int, analyzer::EntityId>, Pool> pools;
  std::vector<std::pair<int, analyzer::EntityId>> order;
  for (const SaturationEpisode& ep : episodes) {
    if (ep.duration() < threshold) continue;
    if (ep.kind == PoolKind::kExecutor && starved.count(ep.pool)) continue;
    auto key = std::make_pair(ep.kind == PoolKind::kExecutor ? 0 : 1, ep.pool);
    auto [it, fresh] = pools.try_emplace(key);
    if (fresh) order.push_back(key);
    Pool& p = it->second;
    p.episodes.push_back(&ep);
    p.max_queued = std::max(p.max_queued, ep.max_queued);
    if (p.longest == nullptr || ep.duration() > p.longest->duration()) p.longest = &ep;
  }
  for (const auto& key : order) {
    auto found = pools.find(key);
    if (found == pools.end()) continue;
    const Pool& p = found->second;
    const SaturationEpisode& ep = *p.longest;
    findings::Finding f = NewFinding(info());
    std::vector<std::string> holders;
    for (const auto& h : ep.holders) {
      holders.push_back(DescribeHolder(model, h));
      analyzer::StackId stack = HolderStack(h);
      findings::RelatedLocation rel;
      rel.set_role("holds a worker");
      rel.set_message(holders.back());
      const analyzer::Frame* fr = model.UserFrame(stack);
      if (fr != nullptr) *rel.mutable_location() = ToLocation(*fr);
      for (auto& loc : ToStack(model, stack)) *rel.add_stack() = std::move(loc);
      *f.add_related() = std::move(rel);
    }
    if (const analyzer::PoolHolder* h = PrimaryHolder(model, p.episodes)) {
      analyzer::StackId stack = HolderStack(*h);
      *f.mutable_location() = ToLocation(*model.UserFrame(stack));
      for (auto& loc : ToStack(model, stack)) *f.add_stack() = std::move(loc);
    }
    std::vector<std::string> parts = FingerprintParts(model, p.episodes);
    if (!f.has_location() && ep.queued_stack != 0) {
      if (const analyzer::Frame* fr = model.UserFrame(ep.queued_stack)) {
        *f.mutable_location() = ToLocation(*fr);
      }
    }
    std::string often = p.episodes.size() == 1 ? "" : absl::StrCat(" (", p.episodes.size(),
                                                                     " times)");
    f.set_headline(absl::StrCat(ep.kind == PoolKind::kExecutor ? "every worker" : "every token",
                                " busy while work queued for ", Secs(ep.duration())));
    f.set_message(absl::StrFormat(
        "every worker of %s was busy while work queued behind it for %s%s, up to %d waiting%s; "
        "held by: %s",
        DescribePool(model, ep), Secs(ep.duration()), often, p.max_queued,
        ep.open ? " (still saturated when the trace ended)" : "",
        holders.empty() ? "(not sampled)" : absl::StrJoin(holders, "; ")));
    f.set_fix(ep.kind == PoolKind::kExecutor ? ExecutorFix(model, ep.pool) : LimiterFix());
    f.set_time_ns(ep.begin);
    f.set_held_seconds(static_cast<double>(ep.duration()) / 1e9);
    SetFingerprint(f, parts);
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
