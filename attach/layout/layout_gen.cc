// layout_gen: reads CPython's own headers with libclang and writes the table
// of offsets, sizes and constants that `waitgraph attach` uses to read a
// CPython process (py-spy does the same with bindgen). Nothing the reader
// uses is written by hand: layout_spec.txt names each value, this tool finds
// it, and the generated check (layout_check_*.c) compares every value with
// offsetof/sizeof compiled from the same headers.
//
// usage: layout_gen SPEC INCLUDE_DIR RESOURCE_DIR TAG OUT_DIR [MODULE_STRUCTS]
//   MODULE_STRUCTS: a header declaring objects CPython keeps private to its
//   extension modules (attach/layout/module_structs_TAG.h), read after the
//   installed headers.
//   writes OUT_DIR/python_layout.h (the struct, from the spec),
//          OUT_DIR/python_layout_TAG.h (the values for these headers) and
//          OUT_DIR/python_layout_check_TAG.c (the self-check)
#include <clang-c/Index.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

// An owning CXString, turned into std::string at once.
std::string ToString(CXString s) {
  const char* c = clang_getCString(s);
  std::string out = c != nullptr ? c : "";
  clang_disposeString(s);
  return out;
}

struct IndexDeleter {
  void operator()(void* index) const { clang_disposeIndex(index); }
};
struct UnitDeleter {
  void operator()(CXTranslationUnitImpl* unit) const { clang_disposeTranslationUnit(unit); }
};
using IndexPtr = std::unique_ptr<void, IndexDeleter>;
using UnitPtr = std::unique_ptr<CXTranslationUnitImpl, UnitDeleter>;

// clang_visitChildren with a lambda.
void VisitChildren(CXCursor parent, const std::function<CXChildVisitResult(CXCursor)>& visit) {
  clang_visitChildren(
      parent,
      [](CXCursor c, CXCursor, CXClientData data) {
        return (*static_cast<const std::function<CXChildVisitResult(CXCursor)>*>(data))(c);
      },
      const_cast<std::function<CXChildVisitResult(CXCursor)>*>(&visit));
}

// A C integer literal that fits a long long ("42", "0x1F", "4U"); nullopt
// for anything else (floats, strings, huge values).
std::optional<long long> ParseInteger(const std::string& text) {
  if (text.empty() || !isdigit(static_cast<unsigned char>(text[0]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long value = std::strtoll(text.c_str(), &end, 0);
  if (errno != 0) return std::nullopt;
  for (; *end != '\0'; ++end) {
    if (*end != 'u' && *end != 'U' && *end != 'l' && *end != 'L') return std::nullopt;
  }
  return value;
}

struct SpecEntry {
  std::string kind;  // offset, size, bitfield, const, slot, table
  std::string name;
  std::string type_or_expr;
  std::string field;  // offset/bitfield: dotted path
  int line = 0;
};

std::optional<std::vector<SpecEntry>> ReadSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::vector<SpecEntry> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    SpecEntry e;
    e.line = n;
    if (!(words >> e.kind)) continue;
    words >> e.name >> e.type_or_expr >> e.field;
    out.push_back(e);
  }
  return out;
}

// The translation unit: the headers, plus one variable per `const` entry so
// that libclang evaluates macros and enumerators for us.
std::string SourceText(const std::vector<SpecEntry>& spec, const std::string& module_structs) {
  std::string text =
      "#define Py_BUILD_CORE 1\n"
      "#define NEED_OPCODE_TABLES 1  /* the opcode tables' definitions, not just declarations */\n"
      "#include <Python.h>\n"
      "#include <frameobject.h>\n"
      "#include <internal/pycore_runtime.h>\n"
      "#include <internal/pycore_interp.h>\n"
      "#include <internal/pycore_frame.h>\n"
      "#include <internal/pycore_dict.h>\n"
      "#include <internal/pycore_moduleobject.h>\n"
      "#include <internal/pycore_object.h>\n"
      "#include <internal/pycore_opcode.h>\n";
  if (!module_structs.empty()) text += "#include \"" + module_structs + "\"\n";
  for (const SpecEntry& e : spec) {
    if (e.kind == "const") text += "static const long long wg_const_" + e.name + " = (" + e.type_or_expr + ");\n";
  }
  return text;
}

class Headers {
 public:
  explicit Headers(CXTranslationUnit unit) : unit_(unit) {
    VisitChildren(clang_getTranslationUnitCursor(unit), [this](CXCursor c) {
      std::string name = ToString(clang_getCursorSpelling(c));
      switch (clang_getCursorKind(c)) {
        case CXCursor_TypedefDecl: typedefs_.emplace(name, clang_getCursorType(c)); break;
        case CXCursor_StructDecl:
          if (clang_isCursorDefinition(c)) structs_.emplace(name, clang_getCursorType(c));
          break;
        case CXCursor_VarDecl:  // the definition, if any, over `extern` declarations
          if (clang_isCursorDefinition(c)) vars_.insert_or_assign(name, c); else vars_.emplace(name, c);
          break;
        case CXCursor_FunctionDecl:
          if (clang_isCursorDefinition(c)) functions_.emplace(name, c);
          break;
        case CXCursor_MacroDefinition: ReadNumericMacro(c, name); break;
        default: break;
      }
      return CXChildVisit_Continue;
    });
  }

  // A 256-entry byte table defined with designated initializers
  // (`[LOAD_ATTR] = 4,` or `[LOAD_ATTR_SLOT] = LOAD_ATTR,`), as CPython's
  // generated opcode tables are: read from its tokens, names resolved
  // through the headers' macros. Entries not listed are 0.
  std::optional<std::vector<long long>> Table(const std::string& name) const {
    auto it = vars_.find(name);
    if (it == vars_.end() || !clang_isCursorDefinition(it->second)) return std::nullopt;
    CXToken* tokens = nullptr;
    unsigned count = 0;
    clang_tokenize(unit_, clang_getCursorExtent(it->second), &tokens, &count);
    std::vector<std::string> t;
    for (unsigned i = 0; i < count; ++i) t.push_back(ToString(clang_getTokenSpelling(unit_, tokens[i])));
    clang_disposeTokens(unit_, tokens, count);
    std::vector<long long> table(256, 0);
    bool any = false;
    size_t body = 0;  // after the `= {` (the array's own `[256]` is no entry)
    while (body < t.size() && t[body] != "{") ++body;
    for (size_t i = body; i + 4 < t.size(); ++i) {
      if (t[i] != "[" || t[i + 2] != "]" || t[i + 3] != "=") continue;
      auto index = Number(t[i + 1]), value = Number(t[i + 4]);
      if (!index || !value || *index < 0 || *index > 255) return std::nullopt;
      table[size_t(*index)] = *value;
      any = true;
    }
    if (!any) return std::nullopt;
    return table;
  }

  std::optional<CXType> Type(const std::string& name) const {
    if (auto it = typedefs_.find(name); it != typedefs_.end()) return clang_getCanonicalType(it->second);
    if (auto it = structs_.find(name); it != structs_.end()) return clang_getCanonicalType(it->second);
    return std::nullopt;
  }

  // The field cursor `name` of record type `type`.
  static std::optional<CXCursor> Field(CXType type, const std::string& name) {
    std::optional<CXCursor> found;
    CXCursor decl = clang_getTypeDeclaration(type);
    VisitChildren(decl, [&](CXCursor c) {
      if (clang_getCursorKind(c) == CXCursor_FieldDecl && ToString(clang_getCursorSpelling(c)) == name) {
        found = c;
        return CXChildVisit_Break;
      }
      return CXChildVisit_Continue;
    });
    return found;
  }

  std::optional<long long> Const(const std::string& name) const {
    auto it = vars_.find("wg_const_" + name);
    if (it == vars_.end()) return std::nullopt;
    CXEvalResult result = clang_Cursor_Evaluate(it->second);
    if (result == nullptr) return std::nullopt;
    std::optional<long long> value;
    if (clang_EvalResult_getKind(result) == CXEval_Int) value = clang_EvalResult_getAsLongLong(result);
    clang_EvalResult_dispose(result);
    return value;
  }

  // The pointer step an inline accessor like `return ((PyObject **)obj)-3;`
  // takes: the integer after the last '-' or '+' of its body.
  std::optional<long long> Slot(const std::string& function) const {
    auto it = functions_.find(function);
    if (it == functions_.end()) return std::nullopt;
    CXToken* tokens = nullptr;
    unsigned count = 0;
    clang_tokenize(unit_, clang_getCursorExtent(it->second), &tokens, &count);
    std::optional<long long> slot;
    for (unsigned i = 0; i + 1 < count; ++i) {
      std::string op = ToString(clang_getTokenSpelling(unit_, tokens[i]));
      if ((op != "-" && op != "+") || clang_getTokenKind(tokens[i + 1]) != CXToken_Literal) continue;
      auto n = ParseInteger(ToString(clang_getTokenSpelling(unit_, tokens[i + 1])));
      if (n) slot = op == "-" ? -*n : *n;
    }
    clang_disposeTokens(unit_, tokens, count);
    return slot;
  }

 private:
  void ReadNumericMacro(CXCursor c, const std::string& name) {
    CXToken* tokens = nullptr;
    unsigned count = 0;
    clang_tokenize(unit_, clang_getCursorExtent(c), &tokens, &count);
    if (count == 2 && clang_getTokenKind(tokens[1]) == CXToken_Literal) {
      std::string text = ToString(clang_getTokenSpelling(unit_, tokens[1]));
      if (auto value = ParseInteger(text)) macros_[name] = *value;
    }
    clang_disposeTokens(unit_, tokens, count);
  }

  std::optional<long long> Number(const std::string& token) const {
    if (auto it = macros_.find(token); it != macros_.end()) return it->second;
    return ParseInteger(token);
  }

  CXTranslationUnit unit_;
  std::map<std::string, long long> macros_;
  std::map<std::string, CXType> typedefs_, structs_;
  std::map<std::string, CXCursor> vars_, functions_;
};

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(path);
  for (std::string part; std::getline(in, part, '.');) out.push_back(part);
  return out;
}

struct Value {
  std::string name;
  long long value;
  std::vector<long long> table;  // kind `table`: 256 entries
};

// Resolves one entry into one or two named values; false with a message.
bool Resolve(const Headers& headers, const SpecEntry& e, std::vector<Value>& out, std::string& error) {
  if (e.kind == "const") {
    auto v = headers.Const(e.name);
    if (!v) return error = "cannot evaluate " + e.type_or_expr, false;
    out.push_back({e.name, *v});
    return true;
  }
  if (e.kind == "table") {
    auto table = headers.Table(e.type_or_expr);
    if (!table) return error = "no table " + e.type_or_expr + " with [NAME] = VALUE entries", false;
    out.push_back({e.name, 0, *table});
    return true;
  }
  if (e.kind == "slot") {
    auto v = headers.Slot(e.type_or_expr);
    if (!v) return error = "no inline function " + e.type_or_expr + " with a pointer step", false;
    out.push_back({e.name, *v});
    return true;
  }
  auto type = headers.Type(e.type_or_expr);
  if (!type) return error = "no type " + e.type_or_expr, false;
  if (e.kind == "size") {
    long long size = clang_Type_getSizeOf(*type);
    if (size < 0) return error = "no size for " + e.type_or_expr, false;
    out.push_back({e.name, size});
    return true;
  }
  long long bits = 0;
  CXType current = *type;
  std::optional<CXCursor> field;
  for (const std::string& part : Split(e.field)) {
    field = Headers::Field(current, part);
    if (!field) return error = "no field " + part + " in " + ToString(clang_getTypeSpelling(current)), false;
    long long offset = clang_Cursor_getOffsetOfField(*field);
    if (offset < 0) return error = "no offset for " + e.field, false;
    bits += offset;
    current = clang_getCanonicalType(clang_getCursorType(*field));
  }
  if (e.kind == "offset") {
    if (bits % 8 != 0) return error = e.field + " is a bit-field; use `bitfield`", false;
    out.push_back({e.name, bits / 8});
    return true;
  }
  if (e.kind == "bitfield") {
    if (!clang_Cursor_isBitField(*field)) return error = e.field + " is not a bit-field", false;
    out.push_back({e.name + "_bit", bits});
    out.push_back({e.name + "_width", clang_getFieldDeclBitWidth(*field)});
    return true;
  }
  return error = "unknown kind " + e.kind, false;
}

std::string Generated(const std::string& spec) {
  return "// Generated by attach/layout/layout_gen from " + spec + ". Do not edit.\n";
}

void WriteStruct(const std::string& path, const std::string& spec, const std::vector<Value>& values) {
  std::ofstream out(path);
  out << Generated(spec) << "#ifndef WAITGRAPH_ATTACH_PYTHON_LAYOUT_H_\n#define WAITGRAPH_ATTACH_PYTHON_LAYOUT_H_\n\n"
      << "#include <cstdint>\n\nnamespace waitgraph::attach {\n\n"
      << "// Offsets and sizes in bytes, bit-field positions in bits, constants as\n"
      << "// the headers define them. One instance per CPython version.\n"
      << "struct PythonLayout {\n  const char* headers;  // where the values came from\n";
  for (const Value& v : values) {
    out << "  int64_t " << v.name << (v.table.empty() ? "" : "[256]") << ";\n";
  }
  out << "};\n\n}  // namespace waitgraph::attach\n\n#endif\n";
}

void WriteValues(const std::string& path, const std::string& spec, const std::string& tag,
                 const std::string& include_dir, const std::vector<Value>& values) {
  std::ofstream out(path);
  out << Generated(spec) << "#pragma once\n#include \"attach/python_layout.h\"\n\n"
      << "namespace waitgraph::attach {\n\ninline constexpr PythonLayout kPythonLayout_" << tag << " = {\n"
      << "    .headers = \"" << include_dir << "\",\n";
  for (const Value& v : values) {
    if (v.table.empty()) {
      out << "    ." << v.name << " = " << v.value << ",\n";
      continue;
    }
    out << "    ." << v.name << " = {";
    for (size_t i = 0; i < v.table.size(); ++i) out << (i % 16 == 0 ? "\n        " : " ") << v.table[i] << ",";
    out << "},\n";
  }
  out << "};\n\n}  // namespace waitgraph::attach\n";
}

// offsetof/sizeof/constants are checked at compile time; bit-fields and
// accessor slots, which offsetof cannot express, by a small program.
void WriteCheck(const std::string& path, const std::string& spec, const std::vector<SpecEntry>& entries,
                const std::map<std::string, long long>& values,
                const std::map<std::string, std::vector<long long>>& tables, const std::string& module_structs) {
  std::ofstream out(path);
  out << Generated(spec) << "#define Py_BUILD_CORE 1\n#define NEED_OPCODE_TABLES 1\n#include <Python.h>\n#include <frameobject.h>\n"
      << "#include <internal/pycore_runtime.h>\n#include <internal/pycore_interp.h>\n"
      << "#include <internal/pycore_frame.h>\n#include <internal/pycore_dict.h>\n"
      << "#include <internal/pycore_moduleobject.h>\n#include <internal/pycore_object.h>\n"
      << "#include <internal/pycore_opcode.h>\n"
      << "#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n";
  if (!module_structs.empty()) out << "#include \"" << module_structs << "\"\n";
  out << "\n";
  std::ostringstream runtime;
  for (const SpecEntry& e : entries) {
    if (e.kind == "offset") {
      out << "_Static_assert(offsetof(" << e.type_or_expr << ", " << e.field << ") == " << values.at(e.name)
          << ", \"" << e.name << "\");\n";
    } else if (e.kind == "size") {
      out << "_Static_assert(sizeof(" << e.type_or_expr << ") == " << values.at(e.name) << ", \"" << e.name
          << "\");\n";
    } else if (e.kind == "const") {
      out << "_Static_assert((" << e.type_or_expr << ") == " << values.at(e.name) << "LL, \"" << e.name
          << "\");\n";
    } else if (e.kind == "bitfield") {
      // Set the field to all ones in a zeroed struct and look where the bits went.
      runtime << "  {\n    " << e.type_or_expr << " s;\n    memset(&s, 0, sizeof s);\n    s." << e.field
              << " = (1u << " << values.at(e.name + "_width") << ") - 1;\n    failures += check_bits(\"" << e.name << "\", &s, sizeof s, "
              << values.at(e.name + "_bit") << ", " << values.at(e.name + "_width") << ");\n  }\n";
    } else if (e.kind == "table") {
      runtime << "  {\n    static const long long expected[256] = {";
      for (long long v : tables.at(e.name)) runtime << v << ",";
      runtime << "};\n    for (int i = 0; i < 256; ++i) {\n      if (" << e.type_or_expr
              << "[i] != expected[i]) {\n        fprintf(stderr, \"" << e.name
              << "[%d]: table says %lld, compiler says %d\\n\", i, expected[i], (int)" << e.type_or_expr
              << "[i]);\n        ++failures;\n      }\n    }\n  }\n";
    } else if (e.kind == "slot") {
      runtime << "  {\n    static PyTypeObject type;\n    type.tp_flags = Py_TPFLAGS_MANAGED_DICT;\n"
              << "    void* words[16] = {0};\n    PyObject* obj = (PyObject*)&words[8];\n"
              << "    obj->ob_type = &type;\n    failures += check_slot(\"" << e.name
              << "\", (char*)" << e.type_or_expr << "(obj) - (char*)obj, " << values.at(e.name) << ");\n  }\n";
    }
  }
  out << "\nstatic int check_bits(const char* name, const void* p, size_t size, long bit, long width) {\n"
      << "  const unsigned char* bytes = p;\n  long first = -1, count = 0;\n"
      << "  for (size_t i = 0; i < size * 8; ++i) {\n"
      << "    if (bytes[i / 8] & (1u << (i % 8))) { if (first < 0) first = (long)i; ++count; }\n  }\n"
      << "  if (first == bit && count == width) return 0;\n"
      << "  fprintf(stderr, \"%s: table says bit %ld width %ld, compiler says %ld/%ld\\n\", name, bit, width,"
      << " first, count);\n  return 1;\n}\n\n"
      << "static int check_slot(const char* name, long bytes, long slot) {\n"
      << "  if (bytes == slot * (long)sizeof(void*)) return 0;\n"
      << "  fprintf(stderr, \"%s: table says %ld pointers, accessor steps %ld bytes\\n\", name, slot, bytes);\n"
      << "  return 1;\n}\n\n"
      << "int wg_layout_runtime_checks(void) {\n  int failures = 0;\n" << runtime.str()
      << "  return failures;\n}\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) {
    std::cerr << "usage: layout_gen SPEC INCLUDE_DIR RESOURCE_DIR TAG OUT_DIR [MODULE_STRUCTS]\n";
    return 2;
  }
  std::string spec_path = argv[1], include_dir = argv[2], resource_dir = argv[3], tag = argv[4],
              out_dir = argv[5], module_structs = argc == 7 ? argv[6] : "";
  auto spec = ReadSpec(spec_path);
  if (!spec) {
    std::cerr << "layout_gen: cannot read " << spec_path << "\n";
    return 2;
  }
  std::string source = SourceText(*spec, module_structs);
  std::string include = "-I" + include_dir, resource = "-I" + resource_dir + "/include";
  const char* args[] = {"-x", "c", "-std=gnu11", include.c_str(), resource.c_str(), "-DNDEBUG"};
  CXUnsavedFile unsaved = {"layout_input.c", source.c_str(), static_cast<unsigned long>(source.size())};
  IndexPtr index(clang_createIndex(/*excludeDeclarationsFromPCH=*/0, /*displayDiagnostics=*/1));
  CXTranslationUnit raw = nullptr;
  CXErrorCode code = clang_parseTranslationUnit2(index.get(), "layout_input.c", args, std::size(args), &unsaved, 1,
                                                 CXTranslationUnit_DetailedPreprocessingRecord, &raw);
  UnitPtr unit(raw);
  if (code != CXError_Success || unit == nullptr) {
    std::cerr << "layout_gen: libclang could not parse the headers in " << include_dir << " (error " << code
              << ")\n";
    return 1;
  }
  for (unsigned i = 0; i < clang_getNumDiagnostics(unit.get()); ++i) {
    CXDiagnostic d = clang_getDiagnostic(unit.get(), i);
    bool fatal = clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error;
    clang_disposeDiagnostic(d);
    if (fatal) {
      std::cerr << "layout_gen: the headers in " << include_dir << " do not compile (see above)\n";
      return 1;
    }
  }
  Headers headers(unit.get());
  std::vector<Value> values;
  std::map<std::string, long long> by_name;
  std::map<std::string, std::vector<long long>> tables;
  int failures = 0;
  for (const SpecEntry& e : *spec) {
    std::string error;
    std::vector<Value> resolved;
    if (!Resolve(headers, e, resolved, error)) {
      std::cerr << spec_path << ":" << e.line << ": " << e.name << ": " << error << "\n";
      ++failures;
      continue;
    }
    for (const Value& v : resolved) {
      values.push_back(v);
      by_name[v.name] = v.value;
      if (!v.table.empty()) tables[v.name] = v.table;
    }
  }
  if (failures > 0) return 1;
  WriteStruct(out_dir + "/python_layout.h", spec_path, values);
  WriteValues(out_dir + "/python_layout_" + tag + ".h", spec_path, tag, include_dir, values);
  WriteCheck(out_dir + "/python_layout_check_" + tag + ".c", spec_path, *spec, by_name, tables, module_structs);
  return 0;
}
