// The whole of waitgraph's analysis over the bytes of one trace file, as
// `check` runs it: framing, chunks, the model and every analysis, every rule
// (post-mortem and as `run`/`live` see a trace still being written), the
// policy and each report format. The fuzzer (trace_analysis_fuzzer.cc) and
// the regression test of its findings (tests/unit/fuzz_regressions_test.cc)
// share it, so a crash the fuzzer found reproduces in the ordinary build.
#ifndef WAITGRAPH_FUZZ_TRACE_BYTES_H_
#define WAITGRAPH_FUZZ_TRACE_BYTES_H_

#include <string>
#include <string_view>

namespace waitgraph::fuzz {

// Rewrites the checksum of every whole frame to match its payload, so that
// mutated payloads reach the protobuf parser and the model instead of all
// stopping at the checksum. Bytes that do not form frames are left as they are.
std::string WithValidChecksums(std::string_view trace_bytes);

// Analyses `trace_bytes` (a trace file's content) and renders every report
// format. Reads no file and writes none. Returns the number of findings (so
// nothing of it is optimised away).
size_t AnalyseTraceBytes(std::string_view trace_bytes);

}  // namespace waitgraph::fuzz

#endif  // WAITGRAPH_FUZZ_TRACE_BYTES_H_
