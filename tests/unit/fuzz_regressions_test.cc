// Every input the fuzzer once crashed on (fuzz/regressions/) and every
// hand-written trace (testdata/traces/, as binary traces) goes through the
// fuzzer's harness in the ordinary build: a fixed crash stays fixed.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz/trace_bytes.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "trace/chunk_file.h"

namespace waitgraph {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::vector<fs::path> FilesIn(const fs::path& dir, const std::string& extension) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && (extension.empty() || entry.path().extension() == extension)) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(FuzzRegressions, EveryInputThatOnceCrashedIsAnalysed) {
  fs::path dir = fs::path(WAITGRAPH_SOURCE_DIR) / "fuzz" / "regressions";
  for (const fs::path& file : FilesIn(dir, "")) {
    if (file.filename() == "README.md") continue;
    SCOPED_TRACE(file.string());
    fuzz::AnalyseTraceBytes(fuzz::WithValidChecksums(ReadAll(file)));
  }
}

TEST(FuzzRegressions, HandWrittenTracesGoThroughTheHarness) {
  fs::path dir = fs::path(WAITGRAPH_SOURCE_DIR) / "testdata" / "traces";
  size_t with_findings = 0, traces = 0;
  for (const fs::path& file : FilesIn(dir, ".textproto")) {
    SCOPED_TRACE(file.string());
    trace::TextTrace text;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(ReadAll(file), &text));
    std::string bytes(trace::kFileMagic);
    uint64_t sequence = 0;
    for (auto chunk : text.chunks()) {
      chunk.set_format_version(trace::kFormatVersion);
      chunk.set_sequence(sequence++);
      bytes += trace::FrameChunk(chunk.SerializeAsString());
    }
    ++traces;
    if (fuzz::AnalyseTraceBytes(bytes) > 0) ++with_findings;
  }
  EXPECT_GT(traces, 10u);
  EXPECT_GT(with_findings, 0u);  // the harness reaches the rules and renderers
}

TEST(FuzzRegressions, ChecksumsAreFixedFrameByFrame) {
  trace::TraceChunk chunk;
  chunk.set_format_version(trace::kFormatVersion);
  std::string framed = trace::FrameChunk(chunk.SerializeAsString() + std::string("\x08\x01", 2));
  framed[8] ^= 0x55;  // a wrong checksum
  std::string bytes = std::string(trace::kFileMagic) + framed + "tail";
  std::string fixed = fuzz::WithValidChecksums(bytes);
  EXPECT_EQ(fixed.size(), bytes.size());
  EXPECT_NE(fixed, bytes);
  EXPECT_EQ(fixed.substr(fixed.size() - 4), "tail");
}

}  // namespace
}  // namespace waitgraph
