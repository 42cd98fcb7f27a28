#include "cli/render_sarif.h"

#include <cctype>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_join.h"
#include "cli/json_writer.h"
#include "rules/rule_table.h"

namespace waitgraph::cli {
namespace {

constexpr char kSrcRoot[] = "%SRCROOT%";

std::string PercentEncode(absl::string_view path) {
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

const char* Level(findings::Severity s) {
  switch (s) {
    case findings::ERROR: return "error";
    case findings::WARNING: return "warning";
    default: return "note";
  }
}

class SarifWriter {
 public:
  explicit SarifWriter(std::string source_root)
      : root_(std::filesystem::path(source_root).lexically_normal().string()) {
    if (!root_.empty() && root_.back() != '/') root_ += '/';
  }

  std::string PhysicalLocation(const findings::Location& loc) const {
    // Python reports files as they were named ("tests/../app.py"); SARIF
    // consumers reject ".." segments.
    const std::string path = std::filesystem::path(loc.path()).lexically_normal().string();
    std::string artifact;
    if (!root_.empty() && path.rfind(root_, 0) == 0) {
      artifact = absl::StrCat("{\"uri\": ", JsonQuote(PercentEncode(path.substr(root_.size()))),
                              ", \"uriBaseId\": ", JsonQuote(kSrcRoot), "}");
    } else if (!path.empty() && path[0] == '/') {
      artifact = absl::StrCat("{\"uri\": ", JsonQuote("file://" + PercentEncode(path)), "}");
    } else {
      artifact = absl::StrCat("{\"uri\": ", JsonQuote(PercentEncode(path)), "}");
    }
    std::string region = loc.line() > 0 ? absl::StrCat(", \"region\": {\"startLine\": ", loc.line(), "}") : "";
    return absl::StrCat("{\"artifactLocation\": ", artifact, region, "}");
  }

  // A SARIF location; `message` may be empty.
  std::string Location(const findings::Location& loc, const std::string& message, int id = -1) const {
    std::string out = "{";
    if (id >= 0) absl::StrAppend(&out, "\"id\": ", id, ", ");
    absl::StrAppend(&out, "\"physicalLocation\": ", PhysicalLocation(loc));
    if (!loc.function().empty()) {
      absl::StrAppend(&out, ", \"logicalLocations\": [{\"fullyQualifiedName\": ",
                      JsonQuote(loc.function()), ", \"kind\": \"function\"}]");
    }
    if (!message.empty()) absl::StrAppend(&out, ", \"message\": {\"text\": ", JsonQuote(message), "}");
    return out + "}";
  }

  std::string Result(const findings::Finding& f, const findings::Report& report) const {
    const std::string& trace = report.trace();
    int rule_index = 0;
    for (const auto& info : rules::RuleTable()) {
      if (info.code == f.code()) break;
      ++rule_index;
    }
    std::vector<std::string> related, flow;
    int id = 1;
    for (const auto& rel : f.related()) {
      if (!rel.has_location() || rel.location().path().empty()) continue;
      std::string text = absl::StrCat(rel.role(), ": ", rel.message());
      related.push_back(Location(rel.location(), text, id++));
      flow.push_back(absl::StrCat("{\"location\": ", Location(rel.location(), text), "}"));
    }
    std::string out = absl::StrCat(
        "{\"ruleId\": ", JsonQuote(f.code()), ", \"ruleIndex\": ", rule_index,
        ", \"level\": ", JsonQuote(Level(f.severity())),
        ", \"message\": {\"text\": ", JsonQuote(absl::StrCat(f.message(), f.fix().empty() ? "" : ". Fix: ", f.fix())), "}");
    if (f.has_location() && !f.location().path().empty()) {
      absl::StrAppend(&out, ", \"locations\": [", Location(f.location(), ""), "]");
    }
    if (!related.empty()) {
      absl::StrAppend(&out, ", \"relatedLocations\": [", absl::StrJoin(related, ", "), "]");
      // The waits of the cycle, in order: one thread flow through them.
      absl::StrAppend(&out, ", \"codeFlows\": [{\"message\": {\"text\": ", JsonQuote(f.name()),
                      "}, \"threadFlows\": [{\"locations\": [", absl::StrJoin(flow, ", "), "]}]}]");
    }
    absl::StrAppend(&out, ", \"partialFingerprints\": {\"waitgraph/v1\": ", JsonQuote(f.fingerprint()),
                    "}, \"properties\": {\"name\": ", JsonQuote(f.name()), ", \"trace\": ", JsonQuote(trace));
    if (f.held_seconds() > 0) absl::StrAppend(&out, ", \"heldSeconds\": ", f.held_seconds());
    if (!f.scope().empty()) absl::StrAppend(&out, ", \"test\": ", JsonQuote(f.scope()));
    // The process (not part of the fingerprint: pids change from run to run).
    if (report.pid() != 0) absl::StrAppend(&out, ", \"pid\": ", report.pid());
    if (!report.role().empty()) absl::StrAppend(&out, ", \"processRole\": ", JsonQuote(report.role()));
    return out + "}}";
  }

  std::string Rules() const {
    std::vector<std::string> out;
    for (const auto& info : rules::RuleTable()) {
      std::string doc(info.doc);
      out.push_back(absl::StrCat(
          "{\"id\": ", JsonQuote(info.code), ", \"name\": ", JsonQuote(info.name),
          ", \"shortDescription\": {\"text\": ", JsonQuote(info.summary), "}",
          ", \"fullDescription\": {\"text\": ", JsonQuote(info.summary), "}",
          ", \"help\": {\"text\": ", JsonQuote(doc), ", \"markdown\": ", JsonQuote(doc), "}",
          ", \"defaultConfiguration\": {\"level\": ", JsonQuote(Level(info.severity)), "}",
          ", \"properties\": {\"tags\": [\"concurrency\", \"asyncio\"]}}"));
    }
    return absl::StrJoin(out, ",\n        ");
  }

  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

}  // namespace

std::string RenderSarif(const std::vector<findings::Report>& reports, const std::string& source_root) {
  SarifWriter w(source_root);
  std::vector<std::string> results, notifications;
  for (const auto& report : reports) {
    for (const auto& f : report.findings()) results.push_back(w.Result(f, report));
    for (const auto& note : report.notes()) {
      notifications.push_back(absl::StrCat("{\"level\": \"note\", \"message\": {\"text\": ",
                                           JsonQuote(note), "}}"));
    }
  }
  std::string base_ids = w.root().empty()
      ? ""
      : absl::StrCat(",\n    \"originalUriBaseIds\": {", JsonQuote(kSrcRoot), ": {\"uri\": ",
                     JsonQuote("file://" + PercentEncode(w.root())), "}}");
  return absl::StrCat(
      "{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n  \"version\": \"2.1.0\",\n"
      "  \"runs\": [{\n    \"tool\": {\"driver\": {\"name\": \"waitgraph\", \"version\": ",
      JsonQuote(WAITGRAPH_VERSION), ", \"semanticVersion\": ", JsonQuote(WAITGRAPH_VERSION),
      ",\n      \"rules\": [\n        ", w.Rules(), "]}}", base_ids,
      ",\n    \"invocations\": [{\"executionSuccessful\": true, \"toolExecutionNotifications\": [",
      absl::StrJoin(notifications, ", "), "]}]",
      ",\n    \"results\": [\n      ", absl::StrJoin(results, ",\n      "), "]\n  }]\n}\n");
}

}  // namespace waitgraph::cli
