#include "cli/policy.h"

#include "cli/output_file.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"

namespace waitgraph::cli {
namespace {

// ---- waitgraph.toml -------------------------------------------------------

std::string StripComment(const std::string& line) {
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"') quoted = !quoted;
    if (line[i] == '#' && !quoted) return line.substr(0, i);
  }
  return line;
}

std::optional<std::string> Unquote(absl::string_view v) {
  v = absl::StripAsciiWhitespace(v);
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::nullopt;
  return std::string(v.substr(1, v.size() - 2));
}

absl::Status ConfigError(const std::string& path, int line, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", what));
}

absl::Status SetValue(Config& config, const std::string& section, const std::string& key,
                      const std::string& value, int line) {
  if (section == "rules") {
    auto level = Unquote(value);
    if (!level || (*level != "off" && *level != "error" && *level != "warning" && *level != "note")) {
      return ConfigError(config.path, line, "a rule takes \"off\", \"error\", \"warning\" or \"note\"");
    }
    config.rule_levels[key] = *level;
  } else if (section == "paths" && key == "ignore") {
    absl::string_view list = absl::StripAsciiWhitespace(value);
    if (!absl::ConsumePrefix(&list, "[") || !absl::ConsumeSuffix(&list, "]")) {
      return ConfigError(config.path, line, "ignore takes a list of strings on one line");
    }
    for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
      auto glob = Unquote(item);
      if (!glob) return ConfigError(config.path, line, "ignore takes quoted strings");
      config.ignore_paths.push_back(*glob);
    }
  } else if (section == "paths" && key == "project") {
    auto dir = Unquote(value);
    if (!dir || dir->empty()) return ConfigError(config.path, line, "project takes a quoted directory");
    std::filesystem::path base = std::filesystem::path(config.path).parent_path();
    config.project = (std::filesystem::path(*dir).is_absolute() ? std::filesystem::path(*dir)
                                                                  : base / *dir).string();
    if (config.project.empty()) config.project = ".";
  } else if (section == "run" && key == "hang-timeout") {
    double seconds;
    if (!absl::SimpleAtod(value, &seconds) || seconds < 0) {
      return ConfigError(config.path, line, "hang-timeout takes seconds");
    }
    config.hang_timeout = seconds;
  } else {
    return ConfigError(config.path, line, absl::StrCat("unknown setting [", section, "] ", key));
  }
  return absl::OkStatus();
}

// ---- comment suppressions --------------------------------------------------

struct SuppressionComment {
  std::string file;
  int line;
  std::set<std::string> rules;  // empty = every rule
};

// Source files larger than this are not searched for suppressions.
constexpr off_t kMaxSourceBytes = off_t{8} << 20;

// The text of a source file a trace names, or "" if it is not a regular
// file of at most kMaxSourceBytes: a trace may be hostile (CI analysing an
// untrusted pull request's traces) and name a FIFO (would block) or
// /dev/zero (would never end).
std::string ReadSourceFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat st;
  std::string text;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= kMaxSourceBytes) {
    text.resize(size_t(st.st_size));
    size_t got = 0;
    while (got < text.size()) {
      ssize_t n = read(fd, text.data() + got, text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += size_t(n);
    }
    text.resize(got);
  }
  close(fd);
  return text;
}

// True if `file`, symlinks resolved, is inside `root` (already resolved).
bool IsUnderRoot(const std::string& file, const std::string& root) {
  if (root.empty()) return true;
  std::error_code ec;
  std::string real = std::filesystem::canonical(file, ec).string();
  if (ec) return false;
  return real.size() > root.size() && real.compare(0, root.size(), root) == 0 &&
         (root.back() == '/' || real[root.size()] == '/');
}

class SourceComments {
 public:
  explicit SourceComments(const std::string& source_root) {
    std::error_code ec;
    if (!source_root.empty()) {
      root_ = std::filesystem::canonical(source_root, ec).string();
      if (ec) root_ = "/nonexistent-source-root";  // unusable root: read nothing
    }
  }

  // The suppression on `line` of `file`, or on the comment-only line above.
  const SuppressionComment* At(const std::string& file, int line) {
    const auto& comments = Load(file);
    for (const auto& c : comments) {
      if (c.line == line || (c.line == line - 1 && comment_only_.count({file, c.line}))) return &c;
    }
    return nullptr;
  }

  const std::vector<SuppressionComment>& Load(const std::string& file) {
    auto it = files_.find(file);
    if (it != files_.end()) return it->second;
    std::vector<SuppressionComment>& out = files_[file];
    std::istringstream in(IsUnderRoot(file, root_) ? ReadSourceFile(file) : std::string());
    static const std::regex kIgnore(R"(#\s*waitgraph:\s*ignore(\[([^\]]*)\])?)");
    std::string text;
    for (int n = 1; std::getline(in, text); ++n) {
      std::smatch m;
      if (!std::regex_search(text, m, kIgnore)) continue;
      SuppressionComment c{file, n, {}};
      for (absl::string_view r : absl::StrSplit(m[2].str(), ',', absl::SkipWhitespace())) {
        c.rules.insert(std::string(absl::StripAsciiWhitespace(r)));
      }
      if (absl::StripLeadingAsciiWhitespace(text).rfind('#', 0) == 0) comment_only_.insert({file, n});
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  std::string root_;  // resolved source root; empty: anywhere
  std::map<std::string, std::vector<SuppressionComment>> files_;
  std::set<std::pair<std::string, int>> comment_only_;
};

bool Matches(const SuppressionComment& c, const findings::Finding& f) {
  return c.rules.empty() || c.rules.count(f.name()) || c.rules.count(f.code());
}

// The comment suppressing `f`, looked for at its user line and the lines of
// the waits related to it.
const SuppressionComment* SuppressedBy(SourceComments& comments, const findings::Finding& f) {
  std::vector<const findings::Location*> places;
  if (f.has_location()) places.push_back(&f.location());
  for (const auto& rel : f.related()) {
    if (rel.has_location()) places.push_back(&rel.location());
  }
  for (const auto* loc : places) {
    if (loc->path().empty()) continue;
    const SuppressionComment* c = comments.At(loc->path(), static_cast<int>(loc->line()));
    if (c != nullptr && Matches(*c, f)) return c;
  }
  return nullptr;
}

std::optional<findings::Severity> LevelFor(const Config& config, const findings::Finding& f) {
  for (const std::string& key : {f.name(), f.code()}) {
    auto it = config.rule_levels.find(key);
    if (it == config.rule_levels.end()) continue;
    if (it->second == "error") return findings::ERROR;
    if (it->second == "warning") return findings::WARNING;
    if (it->second == "note") return findings::NOTE;
    return findings::SEVERITY_UNSPECIFIED;  // off
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  Config config;
  config.path = path.empty() ? "waitgraph.toml" : path;
  std::ifstream in(config.path);
  if (!in) {
    if (path.empty()) return Config{};  // no config: defaults
    return absl::NotFoundError(absl::StrCat("cannot read config ", path));
  }
  std::string section, raw;
  for (int n = 1; std::getline(in, raw); ++n) {
    std::string line(absl::StripAsciiWhitespace(StripComment(raw)));
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']') return ConfigError(config.path, n, "unclosed [section]");
      section = std::string(absl::StripAsciiWhitespace(line.substr(1, line.size() - 2)));
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) return ConfigError(config.path, n, "expected key = value");
    std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    if (auto unquoted = Unquote(key)) key = *unquoted;
    if (auto status = SetValue(config, section, key, line.substr(eq + 1), n); !status.ok()) {
      return status;
    }
  }
  return config;
}

void ApplyPolicy(const Policy& policy, std::vector<findings::Report>& reports) {
  SourceComments comments(policy.source_root);
  std::set<std::pair<std::string, int>> used_comments;
  std::set<std::string> used_globs;
  for (auto& report : reports) {
    google::protobuf::RepeatedPtrField<findings::Finding> kept;
    int baselined = 0;
    for (auto& f : *report.mutable_findings()) {
      if (auto level = LevelFor(policy.config, f)) {
        if (*level == findings::SEVERITY_UNSPECIFIED) continue;
        f.set_severity(*level);
      }
      bool ignored_path = false;
      for (const auto& glob : policy.config.ignore_paths) {
        if (f.has_location() && fnmatch(glob.c_str(), f.location().path().c_str(), 0) == 0) {
          used_globs.insert(glob);
          ignored_path = true;
        }
      }
      if (ignored_path) continue;
      if (policy.comment_suppressions) {
        if (const SuppressionComment* c = SuppressedBy(comments, f)) {
          used_comments.insert({c->file, c->line});
          continue;
        }
      }
      if (policy.baseline.count(f.fingerprint())) {
        ++baselined;
        continue;
      }
      *kept.Add() = std::move(f);
    }
    report.mutable_findings()->Swap(&kept);
    if (baselined > 0) {
      report.add_notes(absl::StrCat(baselined, baselined == 1 ? " finding" : " findings",
                                    " already in the baseline ", baselined == 1 ? "was" : "were",
                                    " left out"));
    }
  }
  // Suppressions that matched nothing: stale, or the bug did not show this run.
  for (auto& report : reports) {
    if (!policy.comment_suppressions) break;
    for (const auto& file : report.source_files()) {
      for (const auto& c : comments.Load(file)) {
        if (used_comments.insert({c.file, c.line}).second) {
          report.add_notes(absl::StrCat("unused suppression at ", c.file, ":", c.line,
                                        ": it matched no finding in this trace"));
        }
      }
    }
  }
  for (const auto& glob : policy.config.ignore_paths) {
    if (!used_globs.count(glob) && !reports.empty()) {
      reports.front().add_notes(absl::StrCat("unused ignore path \"", glob, "\" in ",
                                             policy.config.path, ": it matched no finding"));
    }
  }
}

absl::StatusOr<std::set<std::string>> ReadBaseline(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read baseline ", path));
  std::stringstream text;
  text << in.rdbuf();
  findings::Baseline baseline;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(text.str(), &baseline, options).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a waitgraph baseline (JSON)"));
  }
  std::set<std::string> out;
  for (const auto& e : baseline.findings()) out.insert(e.fingerprint());
  return out;
}

absl::Status WriteBaseline(const std::string& path, const std::vector<findings::Report>& reports) {
  findings::Baseline baseline;
  baseline.set_version(1);
  for (const auto& report : reports) {
    for (const auto& f : report.findings()) {
      findings::BaselineEntry* e = baseline.add_findings();
      e->set_fingerprint(f.fingerprint());
      e->set_code(f.code());
      e->set_name(f.name());
      e->set_message(f.message());
      e->set_path(f.location().path());
    }
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(baseline, &json, options).ok()) {
    return absl::InternalError("cannot encode the baseline");
  }
  std::string error;
  if (!WriteOutputFile(path, json, error)) {
    return absl::PermissionDeniedError(absl::StrCat("baseline: ", error));
  }
  return absl::OkStatus();
}

}  // namespace waitgraph::cli
