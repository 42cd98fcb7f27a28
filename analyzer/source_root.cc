#include "analyzer/source_root.h"

#include <filesystem>

namespace waitgraph::analyzer {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return !prefix.empty() && s.substr(0, prefix.size()) == prefix;
}

// Where the installed package's own path starts ("asgiref/sync.py"), or npos.
size_t SitePackagesEnd(std::string_view file) {
  for (std::string_view marker : {"/site-packages/", "/dist-packages/"}) {
    size_t at = file.find(marker);
    if (at != std::string_view::npos) return at + marker.size();
  }
  return std::string_view::npos;
}

size_t LongestPrefix(std::string_view file, const std::vector<std::string>& prefixes) {
  size_t best = 0;
  for (const std::string& p : prefixes) {
    if (p.size() > best && StartsWith(file, p)) best = p.size();
  }
  return best;
}

// "asyncio/tasks.py" from "/usr/lib/python3.11/asyncio/tasks.py" when the
// trace names no library prefix (hand-written traces): after "pythonX.Y/".
std::string_view AfterPythonDir(std::string_view file) {
  size_t at = file.rfind("/python3");
  if (at != std::string_view::npos) {
    size_t slash = file.find('/', at + 1);
    if (slash != std::string_view::npos) return file.substr(slash + 1);
  }
  size_t slash = file.rfind('/');
  return slash == std::string_view::npos ? file : file.substr(slash + 1);
}

}  // namespace

const char* FrameOriginName(FrameOrigin origin) {
  switch (origin) {
    case FrameOrigin::kProject: return "project";
    case FrameOrigin::kStdlib: return "stdlib";
    case FrameOrigin::kSitePackages: return "site-packages";
    case FrameOrigin::kOther: break;
  }
  return "other";
}

FrameClass ClassifyFile(std::string_view file, bool shim_library,
                        const std::vector<std::string>& library_prefixes, std::string_view root) {
  FrameClass out{FrameOrigin::kOther, std::string(file)};
  if (StartsWith(file, "<frozen ")) {
    out.origin = FrameOrigin::kStdlib;
    return out;
  }
  if (file.empty() || file[0] == '<') return out;  // <string>, <stdin>
  const size_t site_end = SitePackagesEnd(file);
  const bool library = shim_library || site_end != std::string_view::npos;
  if (file[0] != '/') {
    // A relative name (a hand-written trace): the project's unless the shim
    // said library.
    if (!library) out.origin = FrameOrigin::kProject;
  } else if (StartsWith(file, root)) {
    // Under the root: the project's, unless the library directory it is in
    // lies inside the root (a virtualenv in the project's directory).
    size_t library_dir_end = site_end != std::string_view::npos
                                 ? site_end
                                 : (library ? LongestPrefix(file, library_prefixes) : 0);
    if (library_dir_end <= root.size()) {
      out.origin = FrameOrigin::kProject;
      out.display = std::string(file.substr(root.size()));
      return out;
    }
  }
  if (!library) return out;
  if (site_end != std::string_view::npos) {
    out.origin = FrameOrigin::kSitePackages;
    out.display = "<site-packages>/" + std::string(file.substr(site_end));
    return out;
  }
  out.origin = FrameOrigin::kStdlib;
  size_t prefix = LongestPrefix(file, library_prefixes);
  out.display = "<stdlib>/" + std::string(prefix > 0 ? file.substr(prefix) : AfterPythonDir(file));
  return out;
}

std::string NormaliseSourceRoot(const std::string& dir, bool resolve_symlinks) {
  if (dir.empty()) return "";
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  if (ec) return "";
  fs::path canonical = resolve_symlinks ? fs::weakly_canonical(p, ec) : p;
  std::string out = (ec ? p.lexically_normal() : canonical.lexically_normal()).string();
  if (out.empty() || out.back() != '/') out += '/';
  return out;
}

}  // namespace waitgraph::analyzer
