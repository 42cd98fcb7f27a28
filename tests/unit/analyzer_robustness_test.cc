// Bad data must become notes and counters, never a crash: random event
// streams (well-framed but meaningless: ends without begins, dangling ids,
// odd args) through the model, both graphs and every rule; and a real trace
// cut at every byte offset.
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "google/protobuf/text_format.h"

#include "analyzer/class_graph.h"
#include "analyzer/model.h"
#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "gtest/gtest.h"
#include "rules/registry.h"
#include "trace/chunk_file.h"

namespace waitgraph {
namespace {

trace::TraceChunk RandomChunk(std::mt19937& rng, uint64_t sequence) {
  std::uniform_int_distribution<int> kind(0, 95), small(0, 6), arg(-2, 0x3ff);
  trace::TraceChunk chunk;
  chunk.set_format_version(1);
  chunk.set_sequence(sequence);
  for (int i = 1; i <= 4; ++i) {
    auto* s = chunk.add_strings();
    s->set_id(i);
    s->set_value("Future.result");
  }
  auto* f = chunk.add_frames();
  f->set_id(1);
  f->set_file(1);
  f->set_function(2);
  auto* st = chunk.add_stacks();
  st->set_id(1);
  st->add_frames(1);
  st->add_frames(7);  // dangling frame id
  for (int i = 0; i < 200; ++i) {
    trace::Event* e = chunk.add_events();
    e->set_kind(static_cast<trace::EventKind>(kind(rng)));
    e->set_thread(small(rng));
    e->set_subject(small(rng));
    e->set_object(small(rng));
    e->set_arg(arg(rng));
    e->set_stack(small(rng) % 3);
    e->set_name(small(rng));
    e->set_time_delta_ns(small(rng) * 1000);
  }
  return chunk;
}

// Every analysis and every rule, as the CLI runs them.
void AnalyseEverything(const analyzer::TraceAnalysis& analysis) {
  std::vector<analyzer::Deadlock> deadlocks = analyzer::FindDeadlocks(analysis.model());
  rules::Registry registry;
  rules::RegisterAllRules(registry);
  for (const auto& f : registry.Run(rules::InputFor(analysis, deadlocks))) {
    EXPECT_FALSE(f.code().empty());
  }
}

TEST(AnalyzerRobustness, RandomEventStreamsNeverCrash) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 300; ++round) {
    analyzer::TraceAnalysis analysis("random");  // fed in memory, never read from disk
    for (uint64_t c = 0; c < 3; ++c) {
      analysis.AddChunk(RandomChunk(rng, c));
      AnalyseEverything(analysis);
    }
  }
}

TEST(AnalyzerRobustness, RealTraceCutAtEveryOffset) {
  // The hand-written seed trace, framed as the shim writes it.
  trace::TextTrace text;
  {
    std::ifstream in(std::string(WAITGRAPH_SOURCE_DIR) + "/testdata/traces/asgiref_shutdown_deadlock.textproto");
    std::stringstream s;
    s << in.rdbuf();
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(s.str(), &text));
  }
  std::string bytes(trace::kFileMagic);
  for (const auto& chunk : text.chunks()) bytes += trace::FrameChunk(chunk.SerializeAsString());
  const std::string path = testing::TempDir() + "/" + std::to_string(getpid()) + "-cut.wgtrace";
  for (size_t cut = 0; cut <= bytes.size(); ++cut) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, cut);
    analyzer::TraceAnalysis analysis(path);
    analysis.Poll();
    AnalyseEverything(analysis);
    (void)analysis.Notes(/*writer_gone=*/true);
  }
  // And single-byte corruptions all over the file (every 3rd byte: the
  // frame header, checksums and payload fields all get hit).
  for (size_t at = 0; at < bytes.size(); at += 3) {
    std::string bad = bytes;
    bad[at] ^= 0x41;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
    analyzer::TraceAnalysis analysis(path);
    analysis.Poll();
    AnalyseEverything(analysis);
  }
}

}  // namespace
}  // namespace waitgraph
