#include "attach/elf_symbols.h"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <set>
#include <vector>

namespace waitgraph::attach {
namespace {

bool ReadAt(std::ifstream& in, uint64_t offset, void* out, size_t size) {
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  return static_cast<bool>(in.read(static_cast<char*>(out), static_cast<std::streamsize>(size)));
}

// The symbol's value (link-time address) in one ELF file.
std::optional<uint64_t> SymbolValue(std::ifstream& in, const Elf64_Ehdr& eh, const std::string& symbol) {
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 || eh.e_shnum > 4096) return std::nullopt;
  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  if (!ReadAt(in, eh.e_shoff, sections.data(), sections.size() * sizeof(Elf64_Shdr))) return std::nullopt;
  for (uint32_t type : {SHT_DYNSYM, SHT_SYMTAB}) {
    for (const Elf64_Shdr& sh : sections) {
      if (sh.sh_type != type || sh.sh_link >= sections.size() || sh.sh_entsize != sizeof(Elf64_Sym)) continue;
      const Elf64_Shdr& strtab = sections[sh.sh_link];
      if (sh.sh_size > (256u << 20) || strtab.sh_size > (256u << 20)) continue;
      std::vector<Elf64_Sym> syms(sh.sh_size / sizeof(Elf64_Sym));
      std::string names(strtab.sh_size, '\0');
      if (!ReadAt(in, sh.sh_offset, syms.data(), syms.size() * sizeof(Elf64_Sym)) ||
          !ReadAt(in, strtab.sh_offset, names.data(), names.size())) {
        continue;
      }
      for (const Elf64_Sym& s : syms) {
        if (s.st_name >= names.size() || s.st_shndx == SHN_UNDEF) continue;
        if (strcmp(names.c_str() + s.st_name, symbol.c_str()) == 0) return s.st_value;
      }
    }
  }
  return std::nullopt;
}

// Where the file was loaded: 0 for a fixed-address executable, else the
// start of its offset-0 mapping minus the first segment's address.
std::optional<uint64_t> LoadBias(std::ifstream& in, const Elf64_Ehdr& eh, const ProcessMemory& memory,
                                 const std::string& path) {
  if (eh.e_type == ET_EXEC) return 0;
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 4096) return std::nullopt;
  std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
  if (!ReadAt(in, eh.e_phoff, phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr))) return std::nullopt;
  for (const Elf64_Phdr& ph : phdrs) {
    if (ph.p_type != PT_LOAD) continue;
    uint64_t align = ph.p_align > 1 ? ph.p_align : 4096;
    uint64_t page_offset = ph.p_offset & ~(align - 1);
    for (const Mapping& m : memory.mappings()) {
      if (m.path == path && m.file_offset == page_offset) return m.start - (ph.p_vaddr & ~(align - 1));
    }
    return std::nullopt;  // only the first PT_LOAD decides
  }
  return std::nullopt;
}

}  // namespace

std::optional<SymbolAddress> FindSymbol(const ProcessMemory& memory, const std::string& symbol) {
  std::vector<std::string> candidates = {memory.executable()};
  for (const Mapping& m : memory.mappings()) {
    if (m.path.find("python") != std::string::npos) candidates.push_back(m.path);
  }
  std::set<std::string> tried;
  for (const std::string& path : candidates) {
    if (path.empty() || !tried.insert(path).second) continue;
    std::ifstream in(memory.LocalPath(path), std::ios::binary);
    Elf64_Ehdr eh;
    if (!in || !ReadAt(in, 0, &eh, sizeof eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64) {
      continue;
    }
    std::optional<uint64_t> value = SymbolValue(in, eh, symbol);
    if (!value) continue;
    std::optional<uint64_t> bias = LoadBias(in, eh, memory, path);
    if (!bias) continue;
    return SymbolAddress{*value + *bias, path};
  }
  return std::nullopt;
}

}  // namespace waitgraph::attach
