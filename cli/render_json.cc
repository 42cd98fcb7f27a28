#include "cli/render_json.h"

#include "cli/json_writer.h"

#include "absl/strings/str_cat.h"
#include "rules/rule_table.h"

namespace waitgraph::cli {
namespace {

std::string LocationJson(const findings::Location& loc) {
  std::string origin = loc.origin().empty()
                           ? ""
                           : absl::StrCat(", \"origin\": ", JsonQuote(loc.origin()),
                                          ", \"display_path\": ", JsonQuote(loc.display_path()));
  return absl::StrCat("{\"path\": ", JsonQuote(loc.path()), ", \"line\": ", loc.line(),
                      ", \"function\": ", JsonQuote(loc.function()), origin, "}");
}

template <typename Locations>
std::string LocationList(const Locations& locs) {
  std::string out = "[";
  for (const auto& loc : locs) {
    absl::StrAppend(&out, out.size() > 1 ? ", " : "", LocationJson(loc));
  }
  return out + "]";
}

std::string FindingJson(const findings::Finding& f, const findings::Report& report) {
  const std::string& trace = report.trace();
  // `locations`: the primary location, then each distinct related one.
  std::vector<findings::Location> locations;
  auto add = [&](const findings::Location& loc) {
    for (const auto& seen : locations) {
      if (seen.path() == loc.path() && seen.line() == loc.line() && seen.function() == loc.function()) return;
    }
    locations.push_back(loc);
  };
  if (f.has_location()) add(f.location());
  for (const auto& rel : f.related()) {
    if (rel.has_location()) add(rel.location());
  }
  std::string related = "[";
  for (const auto& rel : f.related()) {
    absl::StrAppend(&related, related.size() > 1 ? ", " : "", "{\"role\": ", JsonQuote(rel.role()),
                    ", \"message\": ", JsonQuote(rel.message()),
                    rel.has_location() ? absl::StrCat(", \"location\": ", LocationJson(rel.location()))
                                       : "",
                    ", \"stack\": ", LocationList(rel.stack()), "}");
  }
  related += "]";
  return absl::StrCat(
      "{\"code\": ", JsonQuote(f.code()), ", \"name\": ", JsonQuote(f.name()),
      ", \"severity\": ", JsonQuote(rules::SeverityName(f.severity())),
      ", \"message\": ", JsonQuote(f.message()),
      f.headline().empty() ? "" : absl::StrCat(", \"headline\": ", JsonQuote(f.headline())),
      f.cause().empty() ? "" : absl::StrCat(", \"cause\": ", JsonQuote(f.cause())),
      ", \"locations\": ", LocationList(locations),
      ", \"stack\": ", LocationList(f.stack()), ", \"related\": ", related,
      ", \"fix\": ", JsonQuote(f.fix()), ", \"fingerprint\": ", JsonQuote(f.fingerprint()),
      f.held_seconds() > 0 ? absl::StrCat(", \"held_seconds\": ", f.held_seconds()) : "",
      f.scope().empty() ? "" : absl::StrCat(", \"test\": ", JsonQuote(f.scope())),
      ", \"trace\": ", JsonQuote(trace),
      report.pid() != 0 ? absl::StrCat(", \"pid\": ", report.pid()) : "",
      report.role().empty() ? "" : absl::StrCat(", \"role\": ", JsonQuote(report.role())), "}");
}

}  // namespace

std::string RenderJson(const std::vector<findings::Report>& reports) {
  std::string findings = "[", traces = "[", notes = "[";
  for (const auto& report : reports) {
    for (const auto& f : report.findings()) {
      absl::StrAppend(&findings, findings.size() > 1 ? ",\n  " : "\n  ", FindingJson(f, report));
    }
    absl::StrAppend(&traces, traces.size() > 1 ? ", " : "", "{\"path\": ", JsonQuote(report.trace()),
                    ", \"events\": ", report.events(),
                    report.pid() != 0 ? absl::StrCat(", \"pid\": ", report.pid(), ", \"parent_pid\": ",
                                                     report.parent_pid(), ", \"program\": ",
                                                     JsonQuote(report.program()))
                                      : "",
                    report.role().empty() ? "" : absl::StrCat(", \"role\": ", JsonQuote(report.role())),
                    "}");
    for (const auto& note : report.notes()) {
      absl::StrAppend(&notes, notes.size() > 1 ? ", " : "", JsonQuote(note));
    }
  }
  return absl::StrCat("{\"version\": 1, \"findings\": ", findings, findings.size() > 1 ? "\n]" : "]",
                      ", \"traces\": ", traces, "], \"notes\": ", notes, "]}\n");
}

}  // namespace waitgraph::cli
