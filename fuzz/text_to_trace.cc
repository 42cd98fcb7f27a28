// Turns a hand-written TextTrace (testdata/traces/*.textproto) into a binary
// trace file as the shim writes it, for the fuzzer's seed corpus.
//
//   text_to_trace IN.textproto OUT.wgtrace
#include <fstream>
#include <iostream>
#include <sstream>

#include "google/protobuf/text_format.h"
#include "trace/chunk_file.h"
#include "trace/waitgraph_trace.pb.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: text_to_trace IN.textproto OUT.wgtrace\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream text;
  text << in.rdbuf();
  waitgraph::trace::TextTrace trace;
  if (!in || !google::protobuf::TextFormat::ParseFromString(text.str(), &trace)) {
    std::cerr << "text_to_trace: " << argv[1] << " is not a TextTrace textproto\n";
    return 2;
  }
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  out << waitgraph::trace::kFileMagic;
  uint64_t sequence = 0;
  for (auto chunk : trace.chunks()) {
    // Hand-written chunks leave out what every writer sets.
    if (chunk.format_version() == 0) chunk.set_format_version(waitgraph::trace::kFormatVersion);
    chunk.set_sequence(sequence++);
    out << waitgraph::trace::FrameChunk(chunk.SerializeAsString());
  }
  if (!out) {
    std::cerr << "text_to_trace: cannot write " << argv[2] << "\n";
    return 1;
  }
  return 0;
}
