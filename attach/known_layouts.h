// The layout tables built into this waitgraph, one per CPython version whose
// headers the build parsed (attach/layout/README.md: adding one).
#ifndef WAITGRAPH_ATTACH_KNOWN_LAYOUTS_H_
#define WAITGRAPH_ATTACH_KNOWN_LAYOUTS_H_

#include <cstdint>
#include <string>

#include "attach/python_layout.h"

namespace waitgraph::attach {

// The table for a target whose Py_Version is `version_hex` (same major and
// minor version), or nullptr.
const PythonLayout* LayoutFor(uint32_t version_hex);

// "3.11" or "3.11, 3.12": for messages.
std::string KnownVersions();

}  // namespace waitgraph::attach

#endif  // WAITGRAPH_ATTACH_KNOWN_LAYOUTS_H_
