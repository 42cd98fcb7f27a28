// Whose code is a frame: the user's project (under the source root), the
// standard library, an installed package, or other code. One notion for the
// user's line in every rule and one path style in every report.
#ifndef WAITGRAPH_ANALYZER_SOURCE_ROOT_H_
#define WAITGRAPH_ANALYZER_SOURCE_ROOT_H_

#include <string>
#include <string_view>
#include <vector>

namespace waitgraph::analyzer {

enum class FrameOrigin {
  kProject,       // under the source root (even inside site-packages)
  kOther,         // outside the root, but neither stdlib nor an installed package
  kStdlib,        // the standard library, <frozen ...>
  kSitePackages,  // site-packages / dist-packages
};

// "project", "other", "stdlib", "site-packages" (JSON, tests).
const char* FrameOriginName(FrameOrigin origin);

struct FrameClass {
  FrameOrigin origin = FrameOrigin::kOther;
  // The one path style of reports: relative to the source root for the
  // project's files, "<stdlib>/asyncio/tasks.py", "<site-packages>/asgiref/
  // sync.py", and the path as recorded for other files.
  std::string display;
};

// `root` is an absolute directory ending in '/' (or empty: no project root);
// `library_prefixes` are the shim's (ProcessInfo.library_prefixes, each
// ending in '/'); `shim_library` is the shim's verdict on the frame. A
// library directory inside the root (a virtualenv in the project) stays a
// library; a root inside a library directory (the project installed in
// site-packages) makes its files the project's.
FrameClass ClassifyFile(std::string_view file, bool shim_library,
                        const std::vector<std::string>& library_prefixes, std::string_view root);

// An absolute, normalised directory ending in '/' for `dir` (relative to the
// current directory; symlinks resolved if asked and it exists), or "" for "".
std::string NormaliseSourceRoot(const std::string& dir, bool resolve_symlinks = true);

}  // namespace waitgraph::analyzer

#endif  // WAITGRAPH_ANALYZER_SOURCE_ROOT_H_
