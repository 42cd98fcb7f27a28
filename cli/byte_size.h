// Sizes given by the user ("256M"), as `run --trace-max` and the shim's
// WAITGRAPH_TRACE_MAX take them.
#ifndef WAITGRAPH_CLI_BYTE_SIZE_H_
#define WAITGRAPH_CLI_BYTE_SIZE_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace waitgraph::cli {

// A byte count with an optional K, M, G or T (powers of 1024; a trailing B
// or iB is allowed): "256M" -> 268435456. nullopt if it is not one (or
// overflows 64 bits).
std::optional<uint64_t> ParseByteSize(std::string_view text);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_BYTE_SIZE_H_
