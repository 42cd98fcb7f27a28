# Writes OUT: a C++ file defining RuleDoc() over the markdown files in DOCS
# (a ":"-separated list).
string(REPLACE ":" ";" DOCS "${DOCS}")
set(body "// Generated from rules/docs/*.md by rules/embed_docs.cmake. Do not edit.\n#include \"rules/rule_docs.h\"\n\nnamespace waitgraph::rules {\n\nabsl::string_view RuleDoc(absl::string_view name) {\n")
foreach(doc ${DOCS})
  get_filename_component(name ${doc} NAME_WE)
  file(READ ${doc} text)
  string(APPEND body "  if (name == \"${name}\") return R\"WGDOC(${text})WGDOC\";\n")
endforeach()
string(APPEND body "  return {};\n}\n\n}  // namespace waitgraph::rules\n")
file(WRITE ${OUT}.tmp "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
