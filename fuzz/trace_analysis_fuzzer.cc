// libFuzzer target: a trace file's bytes through the whole analysis
// (fuzz/trace_bytes.h). Built only with -DWAITGRAPH_FUZZ=ON and clang
// (scripts/fuzz.sh); docs/fuzzing.md says how to run it and what it found.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/trace_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  waitgraph::fuzz::AnalyseTraceBytes(waitgraph::fuzz::WithValidChecksums(bytes));
  return 0;
}
