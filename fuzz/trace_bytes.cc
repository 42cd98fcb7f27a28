#include "fuzz/trace_bytes.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "analyzer/standstill.h"
#include "analyzer/trace_loader.h"
#include "analyzer/wait_graph.h"
#include "cli/policy.h"
#include "cli/report.h"
#include "trace/chunk_file.h"

namespace waitgraph::fuzz {
namespace {

constexpr size_t kFrameHeaderSize = 12;  // magic, size, checksum (trace/chunk_file.h)

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// The report's input as `run` and `live` build it while the process still
// runs: the clock advanced past the last event, only deadlocks that held.
std::vector<analyzer::Deadlock> HeldDeadlocks(const analyzer::Model& model, double timeout) {
  std::vector<analyzer::Deadlock> held;
  for (auto& d : analyzer::FindDeadlocks(model)) {
    if (static_cast<double>(model.last_time() - d.held_since) / 1e9 >= timeout) {
      held.push_back(std::move(d));
    }
  }
  return held;
}

size_t RenderAll(std::vector<findings::Report>& reports) {
  cli::Policy policy;
  // Suppression comments are read from source files: never from a fuzzer.
  policy.comment_suppressions = false;
  policy.config.rule_levels = {{"loop-stall", "error"}, {"WG002", "off"}};
  policy.config.ignore_paths = {"*/site-packages/*", "[a-"};
  policy.baseline = {"0000000000000000"};
  cli::ApplyPolicy(policy, reports);
  size_t bytes = 0;
  for (cli::Format format :
       {cli::Format::kText, cli::Format::kJson, cli::Format::kSarif, cli::Format::kJunit}) {
    bytes += cli::Render(reports, {.format = format, .source_root = "/src"}).size();
  }
  return bytes;
}

}  // namespace

std::string WithValidChecksums(std::string_view trace_bytes) {
  std::string out(trace_bytes);
  size_t pos = trace::kFileMagic.size();
  while (out.size() >= pos + kFrameHeaderSize) {
    const uint32_t size = GetU32(out.data() + pos + 4);
    if (size > out.size() - pos - kFrameHeaderSize) break;
    std::string_view payload(out.data() + pos + kFrameHeaderSize, size);
    PutU32(out.data() + pos + 8, trace::Fnv1a32(payload));
    pos += kFrameHeaderSize + size;
  }
  return out;
}

size_t AnalyseTraceBytes(std::string_view trace_bytes) {
  analyzer::TraceAnalysis analysis("fuzz-input.wgtrace");
  // Two feeds, as a growing file is read: the reader resumes mid-frame.
  const size_t half = trace_bytes.size() / 2;
  analysis.Feed(trace_bytes.substr(0, half));
  analysis.Feed(trace_bytes.substr(half));
  if (analysis.unusable() || analysis.model().stats().chunks == 0) return 0;

  std::vector<findings::Report> reports;
  reports.push_back(cli::BuildReport(analysis, analyzer::FindDeadlocks(analysis.model()),
                                     /*writer_gone=*/true));
  // As `run` sees it while the program still runs, two seconds on.
  constexpr analyzer::TimeNs kTwoSeconds = 2'000'000'000;
  const analyzer::TimeNs last = analysis.model().last_time();
  analysis.AdvanceClock(last > std::numeric_limits<analyzer::TimeNs>::max() - kTwoSeconds
                            ? std::numeric_limits<analyzer::TimeNs>::max()
                            : last + kTwoSeconds);
  (void)analyzer::FindStandstill(analysis.model());
  reports.push_back(cli::BuildReport(analysis, HeldDeadlocks(analysis.model(), 2.0),
                                     /*writer_gone=*/false));
  size_t findings = 0;
  for (const auto& report : reports) findings += report.findings_size();
  return findings + RenderAll(reports);
}

}  // namespace waitgraph::fuzz
