#include "analyzer/trace_loader.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/text_format.h"

namespace waitgraph::analyzer {

TraceAnalysis::TraceAnalysis(std::string path, ModelLimits limits)
    : TraceAnalysis(std::move(path), "", limits) {}

TraceAnalysis::TraceAnalysis(std::string path, const std::string& source_root, ModelLimits limits)
    : path_(path),
      reader_(std::move(path)),
      model_(std::make_unique<Model>(limits)),
      classes_(std::make_unique<ClassGraph>()),
      limits_(limits),
      source_root_(source_root) {
  model_->SetSourceRoot(source_root);
  reader_.set_read_limit(size_t{1} << 20);
  Wire();
}

void TraceAnalysis::AddChunk(const trace::TraceChunk& chunk) { AddChunk(chunk, {}); }

void TraceAnalysis::AddChunk(const trace::TraceChunk& chunk,
                             absl::Span<const trace::EventFields> events) {
  if (chunk.has_checkpoint()) {
    // A checkpoint reaches a model that has read chunks only when a bounded
    // trace dropped chunks before this reader saw them: what they changed is
    // unknown, so the model starts over from the checkpoint's state.
    if (model_->stats().chunks > 0) StartOver();
    checkpoint_ = chunk.checkpoint();
  }
  model_->AddChunk(chunk, events);
  contexts_->ForgetWhenIdle(*model_);
}

void TraceAnalysis::StartOver() {
  model_ = std::make_unique<Model>(limits_);
  model_->SetSourceRoot(source_root_);
  classes_ = std::make_unique<ClassGraph>();
  contexts_ = std::make_unique<ContextModel>();
  loop_affinity_ = std::make_unique<LoopAffinity>();
  stalls_ = std::make_unique<StallModel>();
  saturation_ = std::make_unique<SaturationModel>();
  lock_order_ = std::make_unique<LockOrder>();
  uncovered_loops_ = std::make_unique<UncoveredLoops>();
  Wire();
}

void TraceAnalysis::Wire() {
  model_->set_observer(classes_.get());
  model_->AddSink(contexts_.get());
  model_->AddSink(loop_affinity_.get());
  model_->AddSink(stalls_.get());
  model_->AddSink(saturation_.get());
  model_->AddSink(lock_order_.get());
  model_->AddSink(uncovered_loops_.get());
}

KeptCounts TraceAnalysis::CountKept() const {
  KeptCounts out;
  model_->CountKept(out);
  classes_->CountKept(out);
  for (const EventSink* sink : std::initializer_list<const EventSink*>{
           contexts_.get(), loop_affinity_.get(), stalls_.get(), saturation_.get(),
           lock_order_.get(), uncovered_loops_.get()}) {
    sink->CountKept(out);
  }
  return out;
}

bool TraceAnalysis::Poll() {
  // Streams: 1 MiB read and decoded, applied, then the next: never the
  // whole file, nor all its decoded chunks, in memory at once.
  // Each chunk is applied as soon as it is decoded, from one message the
  // reader reuses (no allocation per event).
  bool ok;
  do {
    ok = reader_.PollEach([&](const trace::TraceChunk& chunk,
                              absl::Span<const trace::EventFields> events) { AddChunk(chunk, events); });
  } while (ok && !reader_.at_eof());
  return ok;
}

bool TraceAnalysis::Feed(std::string_view bytes) {
  return reader_.FeedEach(bytes, [&](const trace::TraceChunk& chunk,
                                     absl::Span<const trace::EventFields> events) {
    AddChunk(chunk, events);
  });
}

std::vector<std::string> TraceAnalysis::Notes(bool writer_gone) const {
  std::vector<std::string> notes;
  const ModelStats& stats = model_->stats();
  if (!status().ok()) {
    notes.push_back(absl::StrCat(status().message(), "; analysed the ", stats.events,
                                 " events before it"));
  } else if (writer_gone && reader_.pending_bytes() > 0) {
    notes.push_back(absl::StrCat("trace truncated at byte ", reader_.offset(),
                                 " (process killed?); analysed the ", stats.events,
                                 " events before it"));
  }
  if (writer_gone && stats.chunks > 0 && !model_->shim_stopped() && !model_->replaced_by_exec()) {
    notes.push_back(
        "the trace ends without a clean stop (process killed or hung): state shown as of its "
        "last event");
  }
  if (!model_->shim_disabled_reason().empty()) {
    notes.push_back(absl::StrCat("the shim disabled itself during the run: ",
                                 model_->shim_disabled_reason()));
  }
  if (checkpoint_) {
    notes.push_back(FlightRecorderNote());
  } else if (reader_.wraps_followed() > 0) {
    notes.push_back(absl::StrCat(
        "bounded trace: the file was started over ", reader_.wraps_followed(),
        " times while it was read; this report saw every event, a later analysis of the file "
        "sees its newest part"));
  }
  if (reader_.chunks_missed() > 0) {
    notes.push_back(absl::StrCat("the bounded trace dropped ", reader_.chunks_missed(),
                                 " chunks before they were read; this report covers what the file "
                                 "held after that"));
  }
  if (stats.out_of_order_chunks > 0) {
    notes.push_back(absl::StrCat(stats.out_of_order_chunks, " chunks out of order or missing"));
  }
  if (stats.events_over_limit > 0) {
    notes.push_back(absl::StrCat("the trace is larger than one analysis takes (at most ",
                                 model_->limits().events, " events and ",
                                 model_->limits().memory_bytes >> 20, " MiB): the last ",
                                 stats.events_over_limit, " events (after the first ",
                                 stats.events, ") were left out; findings cover the events before"));
  }
  if (stats.interned_over_limit > 0 || stats.lists_over_limit > 0) {
    notes.push_back(absl::StrCat(
        "the trace defines more than the analysis keeps (", stats.interned_over_limit,
        " names, frames or stacks past ", model_->limits().interned_bytes >> 20,
        " MiB, ", stats.lists_over_limit, " entries past ", model_->limits().per_entity,
        " per thread, wait or future were left out): it may be corrupt or crafted"));
  }
  if (stats.dangling_references > 0) {
    notes.push_back(absl::StrCat(stats.dangling_references,
                                 " events referred to waits the trace never began"));
  }
  if (const uint64_t forgotten = loop_affinity_->objects_forgotten(); forgotten > 0) {
    // Bounded like every other table `run` follows for days (issue 13 item 8):
    // a use of a forgotten object can no longer be told to cross loops.
    notes.push_back(absl::StrCat(
        "loop affinity keeps ", loop_affinity_->objects_capacity(),
        " loop-bound objects (the first ones made and the newest): ", forgotten,
        " others were forgotten, and a use of one of them from another loop or thread "
        "is not reported"));
  }
  if (const size_t repeats = contexts_->forgotten().lost_write_repeats; repeats > 0) {
    notes.push_back(absl::StrCat(
        "lost context writes: the first ", ContextModel::kKeptLostWritesPerSite,
        " tasks of each site whose write a reader missed are kept; ", repeats,
        " more of the same sites were forgotten (a site is reported from its first ones)"));
  }
  if (const uint64_t dropped = loop_affinity_->handoffs_dropped(); dropped > 0) {
    notes.push_back(absl::StrCat(
        "loop affinity keeps ", LoopAffinity::kMaxPendingHandoffs,
        " distinct hand-offs into stopped event loops: ", dropped,
        " more, into loops that never ran again, are not counted in \"N times\""));
  }
  if (const uint64_t dropped = saturation_->episodes_dropped(); dropped > 0) {
    notes.push_back(absl::StrCat(
        "executor and limiter saturation: the ", SaturationModel::kMaxEpisodes,
        " longest episodes are kept; ", dropped,
        " shorter ones were dropped (not counted in \"N times\")"));
  }
  for (auto& note : uncovered_loops_->Notes(*model_)) notes.push_back(std::move(note));
  return notes;
}

std::string TraceAnalysis::FlightRecorderNote() const {
  const trace::FlightCheckpoint& c = *checkpoint_;
  const uint64_t start = model_->process().start_monotonic_ns();
  std::string when =
      c.dropped_until_ns() > start && start > 0
          ? absl::StrFormat("its first %.1f s", double(c.dropped_until_ns() - start) / 1e9)
          : "its oldest events";
  std::string bound = c.max_bytes() >= (uint64_t{1} << 20)
                          ? absl::StrCat(c.max_bytes() >> 20, " MiB")
                          : absl::StrCat(c.max_bytes() >> 10, " KiB");
  return absl::StrCat("bounded trace (", bound, "): ", when, " (",
                      c.dropped_chunks(),
                      " chunks) were dropped; what was still live then (threads, loops, executors, "
                      "waits, locks) was carried over");
}

absl::Status TraceAnalysis::LoadTextTrace() {
  std::ifstream in(path_);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path_));
  std::stringstream text;
  text << in.rdbuf();
  trace::TextTrace trace;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &trace)) {
    return absl::InvalidArgumentError(absl::StrCat(path_, " is not a TextTrace textproto"));
  }
  for (const auto& chunk : trace.chunks()) AddChunk(chunk);
  return absl::OkStatus();
}

}  // namespace waitgraph::analyzer
