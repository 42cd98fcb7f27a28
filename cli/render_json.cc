#include "cli/render_json.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "rules/rule_table.h"

namespace waitgraph::cli {
namespace {

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string LocationJson(const findings::Location& loc) {
  return absl::StrCat("{\"path\": ", Quote(loc.path()), ", \"line\": ", loc.line(),
                      ", \"function\": ", Quote(loc.function()), "}");
}

template <typename Locations>
std::string LocationList(const Locations& locs) {
  std::string out = "[";
  for (const auto& loc : locs) {
    absl::StrAppend(&out, out.size() > 1 ? ", " : "", LocationJson(loc));
  }
  return out + "]";
}

std::string FindingJson(const findings::Finding& f, const std::string& trace) {
  // `locations`: the primary location, then each related one.
  std::vector<findings::Location> locations;
  if (f.has_location()) locations.push_back(f.location());
  for (const auto& rel : f.related()) {
    if (rel.has_location()) locations.push_back(rel.location());
  }
  std::string related = "[";
  for (const auto& rel : f.related()) {
    absl::StrAppend(&related, related.size() > 1 ? ", " : "", "{\"role\": ", Quote(rel.role()),
                    ", \"message\": ", Quote(rel.message()),
                    rel.has_location() ? absl::StrCat(", \"location\": ", LocationJson(rel.location()))
                                       : "",
                    ", \"stack\": ", LocationList(rel.stack()), "}");
  }
  related += "]";
  return absl::StrCat(
      "{\"code\": ", Quote(f.code()), ", \"name\": ", Quote(f.name()),
      ", \"severity\": ", Quote(rules::SeverityName(f.severity())),
      ", \"message\": ", Quote(f.message()), ", \"locations\": ", LocationList(locations),
      ", \"stack\": ", LocationList(f.stack()), ", \"related\": ", related,
      ", \"fix\": ", Quote(f.fix()), ", \"fingerprint\": ", Quote(f.fingerprint()),
      f.held_seconds() > 0 ? absl::StrCat(", \"held_seconds\": ", f.held_seconds()) : "",
      ", \"trace\": ", Quote(trace), "}");
}

}  // namespace

std::string RenderJson(const std::vector<findings::Report>& reports) {
  std::string findings = "[", traces = "[", notes = "[";
  for (const auto& report : reports) {
    for (const auto& f : report.findings()) {
      absl::StrAppend(&findings, findings.size() > 1 ? ",\n  " : "\n  ", FindingJson(f, report.trace()));
    }
    absl::StrAppend(&traces, traces.size() > 1 ? ", " : "", "{\"path\": ", Quote(report.trace()),
                    ", \"events\": ", report.events(), "}");
    for (const auto& note : report.notes()) {
      absl::StrAppend(&notes, notes.size() > 1 ? ", " : "", Quote(note));
    }
  }
  return absl::StrCat("{\"version\": 1, \"findings\": ", findings, findings.size() > 1 ? "\n]" : "]",
                      ", \"traces\": ", traces, "], \"notes\": ", notes, "]}\n");
}

}  // namespace waitgraph::cli
