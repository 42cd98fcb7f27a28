#include "attach/python_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "attach/elf_symbols.h"
#include "attach/known_layouts.h"

namespace waitgraph::attach {
namespace {

// Bounds on every walk: a corrupt or changing target ends a walk early, with
// a note, instead of looping.
constexpr int kMaxInterpreters = 64;
constexpr int kMaxThreads = 100000;
constexpr int kMaxFrames = 4096;
constexpr int64_t kMaxStringChars = 1 << 16;
constexpr int64_t kMaxDictEntries = 1 << 20;
constexpr int64_t kMaxLocals = 1 << 12;

// User-space pointers on x86-64 and aarch64 are below 2^47 and aligned.
bool Plausible(uint64_t p, uint64_t align = 8) { return p >= 4096 && p < (uint64_t{1} << 47) && p % align == 0; }

void AppendUtf8(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// 3.11's location table (Objects/locations.md): varints of 6-bit chunks.
struct TableCursor {
  const std::string& bytes;
  size_t at = 0;
  bool Done() const { return at >= bytes.size(); }
  uint8_t Byte() { return Done() ? 0 : static_cast<uint8_t>(bytes[at++]); }
  uint64_t Varint() {
    uint8_t b = Byte();
    uint64_t value = b & 63;
    for (int shift = 6; (b & 64) && shift < 60 && !Done(); shift += 6) {
      b = Byte();
      value |= uint64_t(b & 63) << shift;
    }
    return value;
  }
  int64_t Svarint() {
    uint64_t v = Varint();
    return (v & 1) ? -int64_t(v >> 1) : int64_t(v >> 1);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<PythonReader>> PythonReader::Open(ProcessMemory& memory) {
  std::optional<SymbolAddress> runtime = FindSymbol(memory, "_PyRuntime");
  if (!runtime) {
    return absl::FailedPreconditionError(absl::StrCat(
        "process ", memory.pid(), " (", memory.executable(),
        ") is not a CPython process: no _PyRuntime symbol in its executable or a libpython it maps"));
  }
  std::optional<SymbolAddress> version = FindSymbol(memory, "Py_Version");
  uint32_t hex = 0;
  if (!version || !memory.ReadValue(version->address, hex)) {
    return absl::UnimplementedError(absl::StrCat(
        "cannot read the Python version of ", runtime->file,
        " (Py_Version, CPython 3.11+); waitgraph attach has layout tables for ", KnownVersions()));
  }
  std::string text = absl::StrFormat("%d.%d.%d", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff);
  const PythonLayout* layout = LayoutFor(hex);
  if (layout == nullptr) {
    return absl::UnimplementedError(absl::StrCat(
        "process ", memory.pid(), " runs Python ", text, "; waitgraph attach has layout tables for ",
        KnownVersions(), " (generate one from that version's headers: attach/layout/README.md)"));
  }
  std::unique_ptr<PythonReader> reader(new PythonReader(memory, *layout, runtime->address));
  reader->version_ = text;
  reader->runtime_file_ = runtime->file;
  return reader;
}

PythonReader::PythonReader(ProcessMemory& memory, const PythonLayout& layout, uint64_t runtime)
    : memory_(memory), layout_(layout), runtime_(runtime) {}

void PythonReader::Note(std::string note) {
  if (notes_.size() < 20 && std::find(notes_.begin(), notes_.end(), note) == notes_.end()) {
    notes_.push_back(std::move(note));
  }
}

std::optional<uint64_t> PythonReader::Pointer(uint64_t address) {
  uint64_t value;
  if (!memory_.ReadValue(address, value)) return std::nullopt;
  return value;
}

std::optional<std::string> PythonReader::TypeName(uint64_t object) {
  if (!Plausible(object)) return std::nullopt;
  auto type = Pointer(object + layout_.object_type);
  if (!type || !Plausible(*type)) return std::nullopt;
  auto name = Pointer(*type + layout_.type_name);
  if (!name || *name == 0) return std::nullopt;
  char buf[128];
  // The name may sit near the end of a mapping: read it in small steps.
  std::string out;
  for (uint64_t at = *name; out.size() < 120; at += 8) {
    if (!memory_.Read(at, buf, 8)) return std::nullopt;
    size_t len = strnlen(buf, 8);
    out.append(buf, len);
    if (len < 8) return out;
  }
  return out;
}

bool PythonReader::IsNone(uint64_t object) { return TypeName(object) == "NoneType"; }

std::optional<std::string> PythonReader::Str(uint64_t object) {
  if (TypeName(object) != "str") return std::nullopt;
  int64_t length;
  uint8_t state[8];
  if (!memory_.ReadValue(object + layout_.unicode_length, length) || length < 0 || length > kMaxStringChars) {
    return std::nullopt;
  }
  // The state bit-fields, where the generated table says they are.
  int64_t state_byte = layout_.unicode_kind_bit / 8;
  if (!memory_.Read(object + state_byte, state, sizeof state)) return std::nullopt;
  auto bits = [&](int64_t bit, int64_t width) {
    uint64_t word;
    memcpy(&word, state, sizeof word);
    return (word >> (bit - state_byte * 8)) & ((uint64_t{1} << width) - 1);
  };
  uint64_t kind = bits(layout_.unicode_kind_bit, layout_.unicode_kind_width);
  bool compact = bits(layout_.unicode_compact_bit, layout_.unicode_compact_width);
  bool ascii = bits(layout_.unicode_ascii_bit, layout_.unicode_ascii_width);
  if (!compact || (kind != 1 && kind != 2 && kind != 4)) return std::nullopt;
  uint64_t data = object + (ascii ? layout_.ascii_object : layout_.compact_unicode_object);
  std::string raw(static_cast<size_t>(length * kind), '\0');
  if (!memory_.Read(data, raw.data(), raw.size())) return std::nullopt;
  if (kind == 1 && ascii) return raw;
  std::string out;
  for (int64_t i = 0; i < length; ++i) {
    uint32_t c = 0;
    memcpy(&c, raw.data() + i * kind, kind);
    AppendUtf8(out, c);
  }
  return out;
}

std::optional<std::string> PythonReader::Bytes(uint64_t object) {
  if (TypeName(object) != "bytes") return std::nullopt;
  int64_t size;
  if (!memory_.ReadValue(object + layout_.varobject_size, size) || size < 0 || size > (1 << 24)) {
    return std::nullopt;
  }
  std::string out(static_cast<size_t>(size), '\0');
  if (!memory_.Read(object + layout_.bytes_sval, out.data(), out.size())) return std::nullopt;
  return out;
}

std::optional<int64_t> PythonReader::Int(uint64_t object) {
  auto type = TypeName(object);
  if (type != "int" && type != "bool") return std::nullopt;
  int64_t size;
  if (!memory_.ReadValue(object + layout_.varobject_size, size)) return std::nullopt;
  int64_t digits = size < 0 ? -size : size;
  if (digits * layout_.long_shift > 63 + layout_.long_shift) return std::nullopt;  // too big for us
  uint64_t value = 0;
  for (int64_t i = 0; i < digits; ++i) {
    uint32_t digit = 0;
    if (!memory_.Read(object + layout_.long_digits + i * layout_.long_digit, &digit, layout_.long_digit)) {
      return std::nullopt;
    }
    value |= uint64_t(digit) << (i * layout_.long_shift);
  }
  return size < 0 ? -int64_t(value) : int64_t(value);
}

std::optional<uint64_t> PythonReader::WeakrefTarget(uint64_t weakref) {
  auto target = Pointer(weakref + layout_.weakref_object);
  if (!target || !Plausible(*target) || IsNone(*target)) return std::nullopt;
  return target;
}

std::vector<std::pair<uint64_t, uint64_t>> PythonReader::DictItems(uint64_t dict) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  if (!Plausible(dict)) return out;
  auto keys = Pointer(dict + layout_.dict_keys);
  auto values = Pointer(dict + layout_.dict_values);
  if (!keys || !values || !Plausible(*keys)) return out;
  uint8_t log2_size, log2_index_bytes, kind;
  int64_t nentries;
  if (!memory_.ReadValue(*keys + layout_.dictkeys_log2_size, log2_size) ||
      !memory_.ReadValue(*keys + layout_.dictkeys_log2_index_bytes, log2_index_bytes) ||
      !memory_.ReadValue(*keys + layout_.dictkeys_kind, kind) ||
      !memory_.ReadValue(*keys + layout_.dictkeys_nentries, nentries) || log2_size > 30 ||
      log2_index_bytes > 33 || nentries < 0 || nentries > kMaxDictEntries || nentries > (int64_t{1} << log2_size)) {
    Note("a dictionary could not be read (the process changed while being read?)");
    return out;
  }
  bool general = kind == layout_.dict_keys_general;
  int64_t entry_size = general ? layout_.dict_entry : layout_.dict_unicode_entry;
  int64_t key_at = general ? layout_.dict_entry_key : layout_.dict_unicode_entry_key;
  int64_t value_at = general ? layout_.dict_entry_value : layout_.dict_unicode_entry_value;
  uint64_t entries = *keys + layout_.dictkeys_indices + (uint64_t{1} << log2_index_bytes);
  std::string block(static_cast<size_t>(nentries * entry_size), '\0');
  if (!memory_.Read(entries, block.data(), block.size())) return out;
  std::vector<uint64_t> split_values;
  if (*values != 0) {
    split_values.resize(static_cast<size_t>(nentries));
    if (!memory_.Read(*values + layout_.dictvalues_values, split_values.data(), split_values.size() * 8)) {
      return out;
    }
  }
  for (int64_t i = 0; i < nentries; ++i) {
    uint64_t key, value;
    memcpy(&key, block.data() + i * entry_size + key_at, 8);
    memcpy(&value, block.data() + i * entry_size + value_at, 8);
    if (*values != 0) value = split_values[static_cast<size_t>(i)];
    if (key != 0 && value != 0) out.emplace_back(key, value);
  }
  return out;
}

std::optional<uint64_t> PythonReader::DictGet(uint64_t dict, std::string_view key) {
  for (const auto& [k, v] : DictItems(dict)) {
    if (Str(k) == key) return v;
  }
  return std::nullopt;
}

std::vector<uint64_t> PythonReader::SetItems(uint64_t set) {
  std::vector<uint64_t> out;
  int64_t mask;
  auto table = Pointer(set + layout_.set_table);
  if (!table || !memory_.ReadValue(set + layout_.set_mask, mask) || mask < 0 || mask > kMaxDictEntries) return out;
  std::string block(static_cast<size_t>((mask + 1) * layout_.set_entry), '\0');
  if (!memory_.Read(*table, block.data(), block.size())) return out;
  for (int64_t i = 0; i <= mask; ++i) {
    uint64_t key;
    memcpy(&key, block.data() + i * layout_.set_entry + layout_.set_entry_key, 8);
    // Empty slots are NULL; deleted ones hold the `dummy` sentinel (type
    // "<dummy key> type"): keep only real objects.
    if (!Plausible(key)) continue;
    auto type = TypeName(key);
    if (type && !type->starts_with("<dummy")) out.push_back(key);
  }
  return out;
}

std::vector<uint64_t> PythonReader::ListItems(uint64_t list) {
  std::vector<uint64_t> out;
  int64_t size;
  auto items = Pointer(list + layout_.list_items);
  if (!items || !memory_.ReadValue(list + layout_.varobject_size, size) || size < 0 || size > kMaxDictEntries) {
    return out;
  }
  out.resize(static_cast<size_t>(size));
  if (!memory_.Read(*items, out.data(), out.size() * 8)) out.clear();
  return out;
}

// An instance's attribute dict (3.11: a managed dict, or inline values
// keyed by the type's shared keys, or tp_dictoffset).
std::optional<uint64_t> PythonReader::InstanceDict(uint64_t object, uint64_t type, uint64_t* values,
                                                   uint64_t* keys) {
  uint64_t flags;
  int64_t dictoffset;
  if (!memory_.ReadValue(type + layout_.type_flags, flags)) return std::nullopt;
  if (flags & layout_.tpflags_managed_dict) {
    auto dict = Pointer(object + layout_.managed_dict_slot * 8);
    if (dict && *dict != 0) return dict;
    auto inline_values = Pointer(object + layout_.managed_values_slot * 8);
    auto shared = Pointer(type + layout_.heaptype_cached_keys);
    if (!inline_values || !shared || *inline_values == 0) return std::nullopt;
    *values = *inline_values;
    *keys = *shared;
    return 0;
  }
  if (!memory_.ReadValue(type + layout_.type_dictoffset, dictoffset) || dictoffset <= 0 || dictoffset > 4096) {
    return std::nullopt;
  }
  auto dict = Pointer(object + dictoffset);
  if (!dict || *dict == 0) return std::nullopt;
  return dict;
}

std::optional<uint64_t> PythonReader::Attr(uint64_t object, std::string_view name) {
  if (!Plausible(object)) return std::nullopt;
  auto type = Pointer(object + layout_.object_type);
  if (!type || !Plausible(*type)) return std::nullopt;
  uint64_t values = 0, keys = 0;
  auto dict = InstanceDict(object, *type, &values, &keys);
  if (!dict) return std::nullopt;
  if (*dict != 0) return DictGet(*dict, name);
  // Inline values: entry i of the shared keys names values[i].
  uint8_t log2_index_bytes;
  int64_t nentries;
  if (!memory_.ReadValue(keys + layout_.dictkeys_log2_index_bytes, log2_index_bytes) ||
      !memory_.ReadValue(keys + layout_.dictkeys_nentries, nentries) || log2_index_bytes > 33 || nentries < 0 ||
      nentries > 4096) {
    return std::nullopt;
  }
  uint64_t entries = keys + layout_.dictkeys_indices + (uint64_t{1} << log2_index_bytes);
  for (int64_t i = 0; i < nentries; ++i) {
    auto key = Pointer(entries + i * layout_.dict_unicode_entry + layout_.dict_unicode_entry_key);
    if (!key || *key == 0 || Str(*key) != name) continue;
    auto value = Pointer(values + layout_.dictvalues_values + i * 8);
    if (!value || *value == 0) return std::nullopt;  // attribute deleted or not set yet
    return value;
  }
  return std::nullopt;
}

const PythonReader::CodeInfo& PythonReader::Code(uint64_t code) {
  auto [it, inserted] = code_cache_.try_emplace(code);
  CodeInfo& info = it->second;
  if (!inserted) return info;
  if (TypeName(code) != "code") return info;
  auto file = Pointer(code + layout_.code_filename);
  auto qualname = Pointer(code + layout_.code_qualname);
  auto linetable = Pointer(code + layout_.code_linetable);
  int32_t first_line = 0, first_traceable = 0;
  if (!file || !qualname || !linetable || !memory_.ReadValue(code + layout_.code_firstlineno, first_line) ||
      !memory_.ReadValue(code + layout_.code_firsttraceable, first_traceable)) {
    return info;
  }
  auto file_text = Str(*file);
  auto qualname_text = Str(*qualname);
  auto table = Bytes(*linetable);
  if (!file_text || !qualname_text || !table) return info;
  info.file = *file_text;
  info.qualname = *qualname_text;
  info.first_line = first_line;
  info.first_traceable = first_traceable;
  info.linetable = std::move(*table);
  info.valid = true;
  return info;
}

int PythonReader::LineOf(const CodeInfo& code, int64_t index) {
  if (index < 0) return code.first_line;
  TableCursor table{code.linetable};
  int64_t line = code.first_line, address = 0;
  while (!table.Done()) {
    uint8_t first = table.Byte();
    if (!(first & 0x80)) break;  // not at an entry start: corrupt
    int kind = (first >> 3) & 15;
    int64_t length = (first & 7) + 1;
    bool has_line = true;
    switch (kind) {
      case 15: has_line = false; break;  // no location
      case 14:                           // long form
        line += table.Svarint();
        table.Varint();
        table.Varint();
        table.Varint();
        break;
      case 13: line += table.Svarint(); break;  // no column
      case 10: case 11: case 12:                // one-line forms
        line += kind - 10;
        table.Byte();
        table.Byte();
        break;
      default: table.Byte(); break;  // short forms: same line
    }
    if (index < address + length) return has_line ? static_cast<int>(line) : -1;
    address += length;
  }
  return -1;
}

std::optional<PyFrame> PythonReader::ReadFrame(uint64_t frame) {
  auto code = Pointer(frame + layout_.iframe_code);
  auto prev_instr = Pointer(frame + layout_.iframe_prev_instr);
  int8_t owner;
  if (!code || !prev_instr || !memory_.ReadValue(frame + layout_.iframe_owner, owner)) return std::nullopt;
  const CodeInfo& info = Code(*code);
  if (!info.valid) return std::nullopt;
  uint64_t first = *code + layout_.code_code_adaptive;
  int64_t index = (int64_t(*prev_instr) - int64_t(first)) / layout_.code_unit;
  // A frame still in its prologue ("incomplete", 3.11) is not shown by
  // CPython either.
  if (owner != layout_.frame_owned_by_generator && index < info.first_traceable) return PyFrame{};
  PyFrame out;
  out.file = info.file;
  out.function = info.qualname;
  out.line = LineOf(info, index);
  out.library = IsLibrary(info.file);
  out.address = frame;
  out.code = *code;
  out.instruction = index;
  return out;
}

std::optional<uint64_t> PythonReader::Local(const PyFrame& frame, std::string_view name) {
  auto names = Pointer(frame.code + layout_.code_localsplusnames);
  int32_t count = 0;
  if (!names || !memory_.ReadValue(frame.code + layout_.code_nlocalsplus, count) || count < 0 ||
      count > kMaxLocals) {
    return std::nullopt;
  }
  for (int32_t i = 0; i < count; ++i) {
    auto key = Pointer(*names + layout_.tuple_items + i * 8);
    if (!key || Str(*key) != name) continue;
    auto value = Pointer(frame.address + layout_.iframe_localsplus + i * 8);
    if (!value || *value == 0) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

std::optional<uint64_t> PythonReader::Module(std::string_view name) {
  if (main_interp_ == 0) {
    auto interp = Pointer(runtime_ + layout_.runtime_interpreters_head);
    if (!interp || !Plausible(*interp)) return std::nullopt;
    main_interp_ = *interp;
  }
  auto modules = Pointer(main_interp_ + layout_.interp_modules);
  if (!modules || !Plausible(*modules)) return std::nullopt;
  auto module = DictGet(*modules, name);
  if (!module) return std::nullopt;
  auto dict = Pointer(*module + layout_.module_dict);
  if (!dict || !Plausible(*dict)) return std::nullopt;
  return dict;
}

std::string PythonReader::ArgvZero() {
  auto sys = Module("sys");
  if (!sys) return "";
  auto argv = DictGet(*sys, "argv");
  if (!argv) return "";
  std::vector<uint64_t> items = ListItems(*argv);
  return items.empty() ? "" : Str(items[0]).value_or("");
}

bool PythonReader::IsLibrary(const std::string& file) const {
  if (absl::StartsWith(file, "<frozen ")) return true;
  if (absl::StrContains(file, "/site-packages/") || absl::StrContains(file, "/dist-packages/")) return true;
  for (const std::string& prefix : library_prefixes_) {
    if (absl::StartsWith(file, prefix)) return true;
  }
  return false;
}

std::unordered_map<uint64_t, std::string> PythonReader::ThreadNames(uint64_t interp) {
  std::unordered_map<uint64_t, std::string> out;
  auto threading = Module("threading");
  if (!threading) return out;
  if (library_prefixes_.empty()) {
    if (auto file = DictGet(*threading, "__file__")) {
      std::string path = Str(*file).value_or("");
      if (size_t slash = path.rfind('/'); slash != std::string::npos) library_prefixes_.push_back(path.substr(0, slash + 1));
    }
  }
  auto active = DictGet(*threading, "_active");
  if (!active) return out;
  for (const auto& [ident, thread] : DictItems(*active)) {
    auto id = Int(ident);
    auto name = Attr(thread, "_name");
    if (!id || !name) continue;
    if (auto text = Str(*name)) out[uint64_t(*id)] = *text;
  }
  return out;
}

std::vector<PyThread> PythonReader::ReadThreads() {
  std::vector<PyThread> out;
  uint64_t gil_holder = 0;
  int32_t gil_locked = 0;
  auto holder = Pointer(runtime_ + layout_.runtime_gil_last_holder);
  if (holder && memory_.ReadValue(runtime_ + layout_.runtime_gil_locked, gil_locked) && gil_locked) {
    gil_holder = *holder;
  }
  auto interp = Pointer(runtime_ + layout_.runtime_interpreters_head);
  for (int i = 0; interp && Plausible(*interp) && i < kMaxInterpreters; ++i) {
    std::unordered_map<uint64_t, std::string> names = ThreadNames(*interp);
    auto tstate = Pointer(*interp + layout_.interp_threads_head);
    int count = 0;
    for (; tstate && Plausible(*tstate) && count < kMaxThreads; ++count) {
      PyThread thread;
      uint64_t ident = 0, native = 0;
      if (!memory_.ReadValue(*tstate + layout_.tstate_thread_id, ident) ||
          !memory_.ReadValue(*tstate + layout_.tstate_native_thread_id, native)) {
        Note("a thread state could not be read (a thread exited while being read?)");
        break;
      }
      thread.ident = ident;
      thread.native_id = native;
      thread.holds_gil = *tstate == gil_holder;
      if (auto it = names.find(ident); it != names.end()) thread.name = it->second;
      auto cframe = Pointer(*tstate + layout_.tstate_cframe);
      auto frame = cframe && Plausible(*cframe) ? Pointer(*cframe + layout_.cframe_current_frame) : std::nullopt;
      int depth = 0;
      for (; frame && Plausible(*frame) && depth < kMaxFrames; ++depth) {
        std::optional<PyFrame> f = ReadFrame(*frame);
        if (!f) {
          Note(absl::StrCat("the stack of thread ", native, " could not be read to the end (it was running?)"));
          break;
        }
        if (!f->function.empty() || !f->file.empty()) thread.frames.push_back(std::move(*f));
        frame = Pointer(*frame + layout_.iframe_previous);
      }
      if (depth == kMaxFrames) Note(absl::StrCat("the stack of thread ", native, " was cut at ", kMaxFrames, " frames"));
      out.push_back(std::move(thread));
      tstate = Pointer(*tstate + layout_.tstate_next);
    }
    if (count == kMaxThreads) Note("more threads than waitgraph reads; the rest are left out");
    interp = Pointer(*interp + layout_.interp_next);
  }
  if (out.empty()) Note("no Python thread found (the interpreter is starting or shutting down?)");
  return out;
}

}  // namespace waitgraph::attach
