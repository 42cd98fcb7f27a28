// Finds a symbol of the target (e.g. _PyRuntime) in the ELF files it maps:
// the executable (Debian's python3.11 links libpython statically and exports
// _PyRuntime in .dynsym) or a libpython shared library, at its load address.
#ifndef WAITGRAPH_ATTACH_ELF_SYMBOLS_H_
#define WAITGRAPH_ATTACH_ELF_SYMBOLS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "attach/process_memory.h"

namespace waitgraph::attach {

struct SymbolAddress {
  uint64_t address = 0;
  std::string file;  // the mapped file that defines it
};

// Looks `symbol` up in every mapped file whose name contains "python"
// (executable first), in .dynsym then .symtab; nullopt if none defines it.
std::optional<SymbolAddress> FindSymbol(const ProcessMemory& memory, const std::string& symbol);

}  // namespace waitgraph::attach

#endif  // WAITGRAPH_ATTACH_ELF_SYMBOLS_H_
