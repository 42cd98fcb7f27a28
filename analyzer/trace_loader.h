// Reading a trace into the model: all of it (post-mortem), or following a
// file while the traced process is still writing it (live, run).
#ifndef WAITGRAPH_ANALYZER_TRACE_LOADER_H_
#define WAITGRAPH_ANALYZER_TRACE_LOADER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "analyzer/class_graph.h"
#include "analyzer/context_model.h"
#include "analyzer/lock_order.h"
#include "analyzer/loop_affinity.h"
#include "analyzer/model.h"
#include "analyzer/saturation.h"
#include "analyzer/stall_model.h"
#include "analyzer/uncovered_loops.h"
#include "trace/chunk_file.h"

namespace waitgraph::analyzer {

// The model of one trace and the class graph built alongside it.
class TraceAnalysis {
 public:
  explicit TraceAnalysis(std::string path, ModelLimits limits = {});
  // `source_root`: the user's project (see Model::SetSourceRoot).
  TraceAnalysis(std::string path, const std::string& source_root, ModelLimits limits = {});

  // Reads whatever the writer has completed since the last call. Returns
  // false once the trace cannot be read further (see status()).
  bool Poll();
  // Like Poll(), over trace-file bytes that did not come from path() (fuzzing).
  bool Feed(std::string_view bytes);
  // Feeds chunks that did not come from the file (tests, fuzzing).
  void AddChunk(const trace::TraceChunk& chunk);
  // The same, with events decoded apart (trace::DecodeChunkSplit).
  void AddChunk(const trace::TraceChunk& chunk, absl::Span<const trace::EventFields> events);
  // Reads path() as a hand-written TextTrace (.textproto) instead of a
  // binary trace: the same analyses, for tests.
  absl::Status LoadTextTrace();

  const std::string& path() const { return path_; }
  const Model& model() const { return *model_; }
  void AdvanceClock(TimeNs now) { model_->AdvanceClock(now); }
  const ClassGraph& classes() const { return *classes_; }
  const ContextModel& contexts() const { return *contexts_; }
  const LoopAffinity& loop_affinity() const { return *loop_affinity_; }
  const StallModel& stalls() const { return *stalls_; }
  const SaturationModel& saturation() const { return *saturation_; }
  const LockOrder& lock_order() const { return *lock_order_; }
  const UncoveredLoops& uncovered_loops() const { return *uncovered_loops_; }
  const absl::Status& status() const { return reader_.status(); }
  // What the model and every analysis keep now, table by table (see
  // KeptCounts in model.h).
  KeptCounts CountKept() const;

  // True if nothing usable was read: the caller should fail with status().
  bool unusable() const { return !status().ok() && model_->stats().chunks == 0; }

  // What a reader of the report should know about the trace itself
  // (truncation, corruption, an unclean end). `writer_gone`: the traced
  // process has exited, so a partial last chunk will never complete.
  std::vector<std::string> Notes(bool writer_gone) const;
  // Set once a flight-recorder checkpoint was read: the trace was bounded.
  const std::optional<trace::FlightCheckpoint>& checkpoint() const { return checkpoint_; }

 private:
  std::string FlightRecorderNote() const;
  // Connects the model to the analyses built alongside it.
  void Wire();
  // New, empty model and analyses (a bounded trace dropped unread chunks).
  void StartOver();

  std::string path_;
  trace::ChunkFileReader reader_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<ClassGraph> classes_;
  std::unique_ptr<ContextModel> contexts_ = std::make_unique<ContextModel>();
  std::unique_ptr<LoopAffinity> loop_affinity_ = std::make_unique<LoopAffinity>();
  std::unique_ptr<StallModel> stalls_ = std::make_unique<StallModel>();
  std::unique_ptr<SaturationModel> saturation_ = std::make_unique<SaturationModel>();
  std::unique_ptr<LockOrder> lock_order_ = std::make_unique<LockOrder>();
  std::unique_ptr<UncoveredLoops> uncovered_loops_ = std::make_unique<UncoveredLoops>();
  std::optional<trace::FlightCheckpoint> checkpoint_;  // the last one read
  ModelLimits limits_;       // kept for StartOver()
  std::string source_root_;  // kept for StartOver()
};

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_TRACE_LOADER_H_
