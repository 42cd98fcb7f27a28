#include "rules/loop_stall.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "analyzer/class_graph.h"
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
          return absl::StrCat(f->producer_reason().empty() ? "work" : f->producer_reason(), " on ",
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

// A sample taken after a garbage collection let go of the GIL: its frames
// are where the collection was triggered, not what took the time.
bool IsGcSample(const analyzer::StallSample& sample) { return sample.call.rfind("gc:", 0) == 0; }

// A sample of a thread waiting to take the GIL (LOOP_STALL_GIL) that is not
// inside a recorded wait: its frames are only where it stood.
bool IsGilSample(const analyzer::StallSample& sample) { return sample.gil_wait && !sample.wait; }

// "the GIL held by thread crunch_1" (or "by another thread": unknown).
std::string GilHolder(const Model& model, const analyzer::StallSample& sample) {
  if (sample.gil_holder == 0) return "the GIL held by another thread";
  std::string label = model.ThreadLabel(sample.gil_holder);
  if (!absl::StartsWith(label, "thread ")) label = absl::StrCat("thread ", label);
  return absl::StrCat("the GIL held by ", label);
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
  // "python:..." : the thread held the GIL, i.e. it was computing; "gc:N":
  // a garbage collection held it; waiting for the GIL: not in the call.
  if (sample.call.rfind("python:", 0) == 0 || IsGcSample(sample) || IsGilSample(sample)) {
    return "";
  }
  return sample.call;
}

// The sample that best shows the stall: when waiting for the GIL took half
// of it or more (as long as the samplers waited), the first such sample;
// else the first one in a call, else the first one computing, else the
// first one waiting for the GIL, else the first.
const analyzer::StallSample* BestSample(const Stall& s) {
  const analyzer::StallSample* first_gil = nullptr;
  TimeNs gil_ns = 0;
  for (const auto& sample : s.samples) {
    if (!IsGilSample(sample)) continue;
    if (first_gil == nullptr) first_gil = &sample;
    // Saturating at the stall's length: a crafted trace's waits may be huge.
    gil_ns = sample.gil_waited >= s.duration() - gil_ns ? s.duration() : gil_ns + sample.gil_waited;
  }
  if (first_gil != nullptr && 2 * gil_ns >= s.duration()) return first_gil;
  for (const auto& sample : s.samples) {
    if (sample.wait || (!sample.call.empty() && sample.call.rfind("python:", 0) != 0 &&
                        !IsGcSample(sample) && !IsGilSample(sample))) {
      return &sample;
    }
  }
  for (const auto& sample : s.samples) {
    if (!IsGcSample(sample) && !IsGilSample(sample)) return &sample;
  }
  for (const auto& sample : s.samples) {
    if (!IsGcSample(sample)) return &sample;
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
    out.push_back(absl::StrCat(f->function, "() at ", f->shown_path(), ":", f->line));
    if (out.size() == 3) break;
  }
  return absl::StrJoin(out, ", in ");
}

// Why a loop stood still, as far as the trace tells.
enum class Cause {
  kCall,        // a blocking call, or the user's code computing
  kGcPause,     // mostly a garbage collection
  kThreadStart, // Thread.start waiting for the new thread to run
  kImport,      // the import system loading a module
  kGilHeld,     // waiting for the GIL another thread held
  kUnknown,     // no sample, or only library frames computing
};

// What a stall was, in words, and what to do about it.
struct Story {
  Cause cause = Cause::kCall;
  std::string group;  // stalls with the same group (and loop) are one finding
  std::string what;   // "in time.sleep called from report() at app.py:19"
  std::string head;   // for the headline, if not `what` up to " called from "
  std::string fix;
  const analyzer::Frame* location = nullptr;
  analyzer::StackId stack = 0;
  std::string fingerprint;
};

constexpr char kBlockingFix[] =
    "do not block the event loop: await an async equivalent (asyncio.sleep, an async "
    "client), or move the blocking call to a thread (await asyncio.to_thread(...), "
    "loop.run_in_executor, Starlette's run_in_threadpool)";
constexpr char kGcFix[] =
    "a collection of an old generation traverses every live container object, wherever it "
    "happens to be triggered: call gc.freeze() once start-up has built the long-lived state "
    "(frozen objects are never traversed again), keep fewer long-lived containers or break "
    "their reference cycles, or raise the thresholds with gc.set_threshold(); the line it "
    "interrupted only allocated";
constexpr char kThreadStartFix[] =
    "Thread.start waits until the new thread runs, which is slow only when the machine or "
    "the GIL is busy: start the pool's workers before serving (submit one no-op per worker at "
    "start-up, or use a pool you made and warmed up), and keep CPU-bound work that holds the "
    "GIL off the process's threads (ProcessPoolExecutor)";
constexpr char kImportFix[] =
    "import modules at start-up, before the loop serves requests, not inside handlers or "
    "callbacks: an import reads files and runs the module's code, once per process";
constexpr char kGilFix[] =
    "another thread held the GIL, and the loop's thread cannot run until it lets go: find what "
    "that thread runs (a C call that keeps the GIL, such as a C extension or ctypes.PyDLL, or "
    "CPU-bound Python) and move it to a process (ProcessPoolExecutor) or to code that releases "
    "the GIL while it works";
constexpr char kUnknownFix[] =
    "nothing in the trace says what held the loop (no sample of it, or only library code "
    "computing): if it recurs, rerun with a lower WAITGRAPH_STALL_MS to sample it earlier; a "
    "busy machine or a garbage collection outside the shim's view can stretch a callback too";

// The innermost frame of `stack` named `function` in a library file
// ending in `file_suffix`, or nullptr.
const analyzer::Frame* FindLibraryFrame(const Model& model, analyzer::StackId stack,
                                        absl::string_view function, absl::string_view file_suffix) {
  for (const analyzer::Frame* f : model.StackFrames(stack)) {
    if (f->function == function && absl::EndsWith(f->file, file_suffix)) return f;
  }
  return nullptr;
}

// "0.180 s of it in 2 collections".
std::string DescribeGc(const Stall& s) {
  std::string n = s.gc.size() == 1 ? "1 collection" : absl::StrCat(s.gc.size(), " collections");
  std::string on;
  for (const auto& g : s.gc) {
    if (g.thread != s.thread) on = " (some on another thread: a collection holds the GIL)";
  }
  return absl::StrCat(Secs(s.gc_ns()), " of it in ", n, on);
}

Story GcPause(const Model& model, const Stall& s, const analyzer::StallSample* sample) {
  Story story;
  story.cause = Cause::kGcPause;
  story.group = absl::StrCat("gc:", s.gc_generation());
  story.what = absl::StrCat("by a garbage collection pause (generation ", s.gc_generation(),
                            "; ", DescribeGc(s), ")");
  if (sample != nullptr) {
    if (std::string frame = UserFrames(model, sample->stack); !frame.empty()) {
      absl::StrAppend(&story.what, ", triggered while running ", frame);
    }
    story.location = model.UserFrame(sample->stack);
    story.stack = sample->stack;
  }
  story.fix = kGcFix;
  story.fingerprint = absl::StrCat("gc-generation-", s.gc_generation());
  return story;
}

Story ThreadStart(const Model& model, const analyzer::StallSample& sample) {
  Story story;
  story.cause = Cause::kThreadStart;
  bool pool = FindLibraryFrame(model, sample.stack, "ThreadPoolExecutor._adjust_thread_count",
                               "concurrent/futures/thread.py") != nullptr;
  std::string frame = UserFrames(model, sample.stack);
  story.group = pool ? "Thread.start:pool" : "Thread.start";
  story.what = absl::StrCat(
      "in Thread.start, waiting for a new thread to begin running",
      pool ? " (a ThreadPoolExecutor starting a worker for work submitted to it)" : "",
      IsGilSample(sample) ? absl::StrCat(", and for ", GilHolder(model, sample)) : "",
      frame.empty() ? "" : absl::StrCat(", called from ", frame));
  story.fix = kThreadStartFix;
  story.location = model.UserFrame(sample.stack);
  story.stack = sample.stack;
  story.fingerprint = FingerprintPart(model, "Thread.start", sample.stack);
  return story;
}

// The frame whose `import` statement is running (just outside the import
// system's frames, "<frozen importlib._bootstrap>"), and the module being
// loaded (its "<module>" frame), or nullptrs when `stack` is not importing.
struct ImportSite {
  const analyzer::Frame* importer = nullptr;
  const analyzer::Frame* module = nullptr;
};

ImportSite FindImport(const Model& model, analyzer::StackId stack) {
  std::vector<const analyzer::Frame*> frames = model.StackFrames(stack);  // innermost first
  size_t outermost = frames.size();
  for (size_t i = 0; i < frames.size(); ++i) {
    if (absl::StartsWith(frames[i]->file, "<frozen importlib._bootstrap")) outermost = i;
  }
  ImportSite site;
  if (outermost == frames.size()) return site;
  // The program's own line that led to the import, else the library
  // frame that ran the import statement (importlib.import_module, ...).
  for (size_t i = outermost + 1; i < frames.size(); ++i) {
    if (!frames[i]->library) {
      site.importer = frames[i];
      break;
    }
  }
  if (site.importer == nullptr && outermost + 1 < frames.size()) {
    site.importer = frames[outermost + 1];
  }
  for (size_t i = outermost; i-- > 0;) {
    if (frames[i]->function == "<module>") {
      site.module = frames[i];
      break;
    }
  }
  return site;
}

Story Import(const Model& model, const analyzer::StallSample& sample, const ImportSite& site) {
  Story story;
  story.cause = Cause::kImport;
  story.group = "import";
  story.what = "importing a module";
  if (site.module != nullptr) absl::StrAppend(&story.what, " (", site.module->file, ")");
  if (site.importer != nullptr) {
    absl::StrAppend(&story.what, " for ", site.importer->function, "() at ", site.importer->file,
                    ":", site.importer->line);
    story.location = site.importer;
  } else {
    story.location = model.UserFrame(sample.stack);
  }
  story.fix = kImportFix;
  story.stack = sample.stack;
  story.fingerprint = FingerprintPart(model, "import", sample.stack);
  return story;
}

// The library function the program's innermost frame called, when the
// stack is inside a library there (Request._get_form for `await
// request.form()`): a stable name for where computing went, unlike the
// innermost frame, which is wherever a sample happened to land.
const analyzer::Frame* LibraryEntry(const Model& model, analyzer::StackId stack) {
  const analyzer::Frame* inner = nullptr;
  for (const analyzer::Frame* f : model.StackFrames(stack)) {
    if (!f->library) return inner;
    inner = f;
  }
  return nullptr;
}

// The innermost frame, "Portal._call_func() at anyio/from_thread.py:219".
std::string InnermostFrame(const Model& model, analyzer::StackId stack) {
  std::vector<const analyzer::Frame*> frames = model.StackFrames(stack);
  if (frames.empty()) return "";
  const analyzer::Frame* f = frames.front();
  return absl::StrCat(f->function, "() at ", f->file, ":", f->line);
}

// The loop thread stood waiting for the GIL: the stall is the holder's, and
// where the loop thread stood ("in self._ssock.recv called from ...") is
// only where it was when the GIL went away.
Story GilHeld(const Model& model, const analyzer::StallSample& sample) {
  Story story;
  story.cause = Cause::kGilHeld;
  story.group = "gil";
  std::string frame = UserFrames(model, sample.stack);
  if (frame.empty()) frame = InnermostFrame(model, sample.stack);
  std::string call = sample.call.rfind("python:", 0) == 0 ? "" : sample.call;
  story.head = absl::StrCat("waiting for ", GilHolder(model, sample));
  story.what = story.head;
  if (!frame.empty()) {
    absl::StrAppend(&story.what, "; the loop's thread stood in ",
                    call.empty() ? "" : absl::StrCat(call, ", from "), frame);
  }
  story.fix = kGilFix;
  story.location = model.UserFrame(sample.stack);
  story.stack = sample.stack;
  story.fingerprint = FingerprintPart(model, "gil", sample.stack);
  return story;
}

Story Tell(const Model& model, const Stall& s) {
  const analyzer::StallSample* sample = BestSample(s);
  // A collection that took half the stall or more is what stalled it.
  if (s.gc_generation() >= 0 && 2 * s.gc_ns() >= s.duration()) return GcPause(model, s, sample);
  if (sample == nullptr) {
    Story story;
    story.cause = Cause::kUnknown;
    story.group = "no-sample";
    story.what = "(no sample: it ended before the watchdog looked, so what held it is unknown)";
    story.fix = kUnknownFix;
    story.fingerprint = s.callback;
    return story;
  }
  if (!sample->wait &&
      FindLibraryFrame(model, sample->stack, "Thread.start", "threading.py") != nullptr) {
    return ThreadStart(model, *sample);
  }
  if (ImportSite site = FindImport(model, sample->stack); site.importer || site.module) {
    return Import(model, *sample, site);
  }
  if (IsGilSample(*sample)) return GilHeld(model, *sample);
  Story story;
  std::string call = BlockingCall(model, *sample);
  const analyzer::Frame* user = model.UserFrame(sample->stack);
  std::string frame = UserFrames(model, sample->stack);
  story.location = user;
  story.stack = sample->stack;
  story.group = absl::StrCat(call, "@", user ? user->file : s.callback, ":",
                             user ? user->function : "", ":", user ? user->line : 0);
  std::string api = call.substr(0, call.find(' '));
  story.fingerprint = FingerprintPart(model, api.empty() ? "python" : api, sample->stack);
  if (frame.empty()) {
    // Only library frames: say where, and unless it is in a blocking call,
    // do not claim to know what held the loop.
    std::string inner = InnermostFrame(model, sample->stack);
    if (call.empty()) {
      story.cause = Cause::kUnknown;
      story.what = absl::StrCat("running library code in ", inner,
                                " (no frame of the program's own code was on the stack)");
      story.fix = kUnknownFix;
    } else {
      story.what = absl::StrCat("in ", call, " called from ", inner);
      story.fix = kBlockingFix;
    }
    return story;
  }
  if (!call.empty()) {
    story.what = absl::StrCat("in ", call, " called from ", frame);
  } else if (const analyzer::Frame* entry = LibraryEntry(model, sample->stack)) {
    // Computing inside a library the program called (a parser, a
    // serializer): name the library call, and the program's line.
    story.what = absl::StrCat("running Python code in ", entry->function, " (",
                              analyzer::ShortLocation(*entry), "), called from ", frame);
  } else {
    story.what = absl::StrCat("running Python code in ", frame);
  }
  story.fix = kBlockingFix;
  if (s.gc_ns() > 0) {
    absl::StrAppend(&story.what, " (", Secs(s.gc_ns()), " of it in garbage collection, up to "
                    "generation ", s.gc_generation(), ")");
  }
  return story;
}

// Causes that are the runtime's, not a blocking call the program made, are
// notes below the error threshold; a stall nothing in the trace explains is
// always a note (it cannot say what to fix).
findings::Severity SeverityOf(Cause cause, TimeNs duration, TimeNs error_ns) {
  if (cause == Cause::kCall) return duration >= error_ns ? findings::ERROR : findings::WARNING;
  if (cause == Cause::kUnknown) return findings::NOTE;
  return duration >= error_ns ? findings::WARNING : findings::NOTE;
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
  const TimeNs error_ns = ErrorThresholdNs();
  // One finding per place: (loop, what the story groups by).
  using Key = std::pair<analyzer::EntityId, std::string>;
  std::map<Key, Site> sites;
  std::vector<Key> order;
  for (const Stall& s : stalls) {
    Key key{s.loop, Tell(model, s).group};
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

  for (const Key& key : order) {
    auto found = sites.find(key);
    if (found == sites.end()) continue;
    const Site& site = found->second;
    const Stall& s = *site.longest;
    const analyzer::StallSample* sample = BestSample(s);
    Story story = Tell(model, s);
    findings::Finding f = NewFinding(info());
    f.set_severity(SeverityOf(story.cause, s.duration(), error_ns));

    std::string where = s.loop != 0 ? DescribeLoop(model, s.loop) : "an event loop";
    std::string what = story.what;
    if (story.location != nullptr) *f.mutable_location() = ToLocation(*story.location);
    for (auto& loc : ToStack(model, story.stack)) *f.add_stack() = std::move(loc);
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
    // The headline names what blocked; the text report cuts it to one line.
    std::string head = !story.head.empty()
                           ? story.head
                           : story.what.substr(0, story.what.find(" called from "));
    f.set_headline(absl::StrCat("event loop blocked ", Secs(s.duration()), " ", head));
    f.set_fix(story.fix);
    f.set_time_ns(site.stalls.front()->begin);
    f.set_held_seconds(static_cast<double>(s.duration()) / 1e9);
    for (const auto& extra : s.samples) {
      if (&extra == sample) continue;
      findings::RelatedLocation rel;
      rel.set_role("sampled during the stall");
      std::string call = BlockingCall(model, extra);
      if (IsGcSample(extra)) call = "just after a garbage collection let go";
      if (IsGilSample(extra)) call = absl::StrCat("waiting for ", GilHolder(model, extra));
      rel.set_message(absl::StrCat("after ", Secs(extra.elapsed), ": ",
                                   call.empty() ? std::string("running Python code") : call));
      if (const analyzer::Frame* fr = model.UserFrame(extra.stack)) {
        *rel.mutable_location() = ToLocation(*fr);
      }
      for (auto& loc : ToStack(model, extra.stack)) *rel.add_stack() = std::move(loc);
      *f.add_related() = std::move(rel);
      if (f.related_size() >= 3) break;
    }
    SetFingerprint(f, {story.fingerprint});
    out.push_back(std::move(f));
  }
}

}  // namespace waitgraph::rules
