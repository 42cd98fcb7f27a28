#include "analyzer/trace_loader.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"

namespace waitgraph::analyzer {

TraceAnalysis::TraceAnalysis(std::string path, ModelLimits limits)
    : TraceAnalysis(std::move(path), "", limits) {}

TraceAnalysis::TraceAnalysis(std::string path, const std::string& source_root, ModelLimits limits)
    : path_(path),
      reader_(std::move(path)),
      model_(std::make_unique<Model>(limits)),
      classes_(std::make_unique<ClassGraph>()) {
  model_->SetSourceRoot(source_root);
  model_->set_observer(classes_.get());
  model_->AddSink(contexts_.get());
  model_->AddSink(loop_affinity_.get());
  model_->AddSink(stalls_.get());
  model_->AddSink(saturation_.get());
  model_->AddSink(lock_order_.get());
  model_->AddSink(uncovered_loops_.get());
}

bool TraceAnalysis::Poll() {
  // A slice at a time, each applied before the next is read: a big trace
  // never sits in memory whole, decoded.
  constexpr uint64_t kSliceBytes = 8u << 20;
  bool ok = true;
  do {
    std::vector<trace::TraceChunk> chunks;
    ok = reader_.Poll(chunks, kSliceBytes);
    for (const auto& chunk : chunks) AddChunk(chunk);
  } while (ok && reader_.more_to_read());
  return ok;
}

bool TraceAnalysis::Feed(std::string_view bytes) {
  std::vector<trace::TraceChunk> chunks;
  bool ok = reader_.Feed(bytes, chunks);
  for (const auto& chunk : chunks) AddChunk(chunk);
  return ok;
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
  if (writer_gone && stats.chunks > 0 && !model_->shim_stopped()) {
    notes.push_back(
        "the trace ends without a clean stop (process killed or hung): state shown as of its "
        "last event");
  }
  if (!model_->shim_disabled_reason().empty()) {
    notes.push_back(absl::StrCat("the shim disabled itself during the run: ",
                                 model_->shim_disabled_reason()));
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
  for (auto& note : uncovered_loops_->Notes(*model_)) notes.push_back(std::move(note));
  return notes;
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
