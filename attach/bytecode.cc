#include "attach/bytecode.h"

#include <string>
#include <vector>

namespace waitgraph::attach {
namespace {

struct Instruction {
  int64_t opcode;  // de-specialized
  int64_t oparg;
};

// Decodes `code` from its start to the instruction at `index` (code units),
// with the generated opcode tables: specialized opcodes map back to their
// base, and each instruction's inline cache entries are skipped.
std::vector<Instruction> Decode(PythonReader& r, const PyFrame& frame) {
  const PythonLayout& l = r.layout();
  std::vector<Instruction> out;
  int64_t units = 0;
  if (frame.instruction < 0 || !r.memory().ReadValue(frame.code + l.varobject_size, units) || units <= 0 ||
      units > (1 << 20) || frame.instruction >= units) {
    return out;
  }
  std::vector<uint8_t> bytes(size_t(frame.instruction + 1) * 2);
  if (!r.memory().Read(frame.code + l.code_code_adaptive, bytes.data(), bytes.size())) return out;
  int64_t extended = 0;
  for (int64_t i = 0; i <= frame.instruction;) {
    int64_t opcode = l.opcode_deopt[bytes[size_t(i) * 2]];
    int64_t oparg = bytes[size_t(i) * 2 + 1] | (extended << 8);
    if (opcode == l.op_extended_arg) {
      extended = oparg;
      ++i;
      continue;
    }
    extended = 0;
    out.push_back({opcode, oparg});
    i += 1 + l.opcode_caches[opcode];
  }
  return out;
}

std::optional<std::string> Name(PythonReader& r, const PyFrame& frame, int64_t index) {
  uint64_t names = 0;
  if (!r.memory().ReadValue(frame.code + r.layout().code_names, names)) return std::nullopt;
  uint64_t name = 0;
  if (index < 0 || index > 4096 || !r.memory().ReadValue(names + r.layout().tuple_items + index * 8, name)) {
    return std::nullopt;
  }
  return r.Str(name);
}

// The object the loads ending at `end` (exclusive) leave on the stack:
// LOAD_FAST, LOAD_GLOBAL, each optionally followed by LOAD_ATTRs.
std::optional<uint64_t> Evaluate(PythonReader& r, const PyFrame& frame, const std::vector<Instruction>& code,
                                 size_t end) {
  const PythonLayout& l = r.layout();
  if (end == 0) return std::nullopt;
  const Instruction& last = code[end - 1];
  if (last.opcode == l.op_load_attr) {
    auto owner = Evaluate(r, frame, code, end - 1);
    auto name = Name(r, frame, last.oparg);
    if (!owner || !name) return std::nullopt;
    return r.Attr(*owner, *name);
  }
  if (last.opcode == l.op_load_fast) {
    uint64_t value = 0;
    if (last.oparg > 4096 ||
        !r.memory().ReadValue(frame.address + l.iframe_localsplus + last.oparg * 8, value) || value == 0) {
      return std::nullopt;
    }
    return value;
  }
  if (last.opcode == l.op_load_global) {
    auto name = Name(r, frame, last.oparg >> 1);
    uint64_t globals = 0;
    if (!name || !r.memory().ReadValue(frame.address + l.iframe_globals, globals)) return std::nullopt;
    return r.DictGet(globals, *name);
  }
  return std::nullopt;
}

}  // namespace

std::optional<BlockedCall> BlockedCallOf(PythonReader& r, const PyFrame& frame, std::string* method) {
  const PythonLayout& l = r.layout();
  std::vector<Instruction> code = Decode(r, frame);
  if (code.empty()) return std::nullopt;
  const Instruction& at = code.back();
  if (at.opcode == l.op_before_with) {
    auto object = Evaluate(r, frame, code, code.size() - 1);
    if (!object) return std::nullopt;
    return BlockedCall{*object, true, 0};
  }
  // obj.method(args): LOAD obj, LOAD_METHOD method, args..., PRECALL n, CALL n.
  if (at.opcode != l.op_call || code.size() < 3 || code[code.size() - 2].opcode != l.op_precall) {
    return std::nullopt;
  }
  int arguments = int(at.oparg);
  // The arguments are simple loads in the calls we follow (one instruction
  // each, e.g. `acquire(False)`, `acquire(timeout=t)`: then a KW_NAMES too).
  for (size_t k = code.size() - 2; k-- > 0 && code.size() - 2 - k <= size_t(arguments) + 2;) {
    if (code[k].opcode != l.op_load_method) continue;
    auto name = Name(r, frame, code[k].oparg);
    auto object = Evaluate(r, frame, code, k);
    if (!name || !object) return std::nullopt;
    if (method != nullptr) *method = *name;
    return BlockedCall{*object, false, arguments};
  }
  return std::nullopt;
}

}  // namespace waitgraph::attach
