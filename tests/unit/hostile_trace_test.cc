// Hostile traces (issue 13 item 5): a trace from an untrusted source must
// not make the analyzer misbehave. Times that would overflow saturate; a
// trace in a newer format is refused with a message, not misread.
#include <cstdint>
#include <fstream>
#include <limits>

#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "gtest/gtest.h"
#include "rules/registry.h"
#include "trace/chunk_file.h"

namespace waitgraph {
namespace {

trace::TraceChunk ChunkWithTimes(uint64_t base, std::initializer_list<uint64_t> deltas) {
  trace::TraceChunk chunk;
  chunk.set_format_version(trace::kFormatVersion);
  chunk.set_base_time_ns(base);
  uint64_t id = 1;
  for (uint64_t delta : deltas) {
    trace::Event* e = chunk.add_events();
    e->set_kind(trace::WAIT_BEGIN);
    e->set_thread(7);
    e->set_subject(id++);
    e->set_object(99);
    e->set_arg(trace::ENTITY_FUTURE);
    e->set_time_delta_ns(delta);
  }
  return chunk;
}

TEST(HostileTrace, TimesSaturateInsteadOfOverflowing) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  analyzer::TraceAnalysis analysis("hostile");  // fed in memory
  analysis.AddChunk(ChunkWithTimes(kMax - 5, {0, kMax, kMax, 3}));
  const analyzer::Model& model = analysis.model();
  EXPECT_GE(model.first_time(), 0);
  EXPECT_GE(model.last_time(), model.first_time());
  EXPECT_EQ(model.last_time(), std::numeric_limits<analyzer::TimeNs>::max());
  // Every rule computes durations from these times.
  rules::Registry registry;
  rules::RegisterAllRules(registry);
  auto deadlocks = analyzer::FindDeadlocks(model);
  for (const auto& f : registry.Run(rules::InputFor(analysis, deadlocks))) {
    EXPECT_FALSE(f.code().empty());
  }
}

TEST(HostileTrace, NewerFormatIsRefusedWithAMessage) {
  trace::TraceChunk chunk;
  chunk.set_format_version(trace::kFormatVersion + 1);
  std::string path = testing::TempDir() + "/newer.wgtrace";
  std::ofstream(path, std::ios::binary) << trace::kFileMagic << trace::FrameChunk(chunk.SerializeAsString());
  trace::ChunkFileReader reader(path);
  std::vector<trace::TraceChunk> chunks;
  EXPECT_FALSE(reader.Poll(chunks));
  EXPECT_TRUE(chunks.empty());
  EXPECT_NE(std::string(reader.status().message()).find("newer than this waitgraph reads"),
            std::string::npos)
      << reader.status();
}

TEST(HostileTrace, OversizedPayloadIsNeverFramed) {
  std::string huge(size_t(trace::kMaxFramePayload) + 1, 'x');
  EXPECT_TRUE(trace::FrameChunk(huge).empty());
}

}  // namespace
}  // namespace waitgraph
