#include "cli/render_text.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rules/rule_table.h"

namespace waitgraph::cli {
namespace {

constexpr size_t kMaxStackLines = 12;

std::string Where(const findings::Location& loc) {
  return absl::StrCat(loc.path(), ":", loc.line(), " in ", loc.function());
}

void AppendStack(std::string& out, const google::protobuf::RepeatedPtrField<findings::Location>& stack,
                 const char* indent) {
  size_t shown = 0;
  for (const auto& loc : stack) {
    if (shown++ == kMaxStackLines) {
      absl::StrAppend(&out, indent, "... ", stack.size() - kMaxStackLines, " more frames\n");
      break;
    }
    absl::StrAppend(&out, indent, "at ", Where(loc), "\n");
  }
}

// "process 1234 (a.py, child of 1200)", "process 4242 (/usr/bin/gunicorn,
// worker 2, child of 4240)": which process of several a finding is about.
std::string ProcessLine(const findings::Report& report) {
  std::vector<std::string> parts;
  if (!report.program().empty()) parts.push_back(report.program());
  if (!report.role().empty()) parts.push_back(report.role());
  if (report.parent_pid() != 0) parts.push_back(absl::StrCat("child of ", report.parent_pid()));
  std::string out = absl::StrCat("process ", report.pid());
  if (!parts.empty()) absl::StrAppend(&out, " (", absl::StrJoin(parts, ", "), ")");
  return out;
}

void AppendFinding(std::string& out, const findings::Finding& f, const std::string& process) {
  absl::StrAppend(&out, rules::SeverityName(f.severity()), "[", f.code(), "] ", f.name(), ": ",
                  f.message(), "\n");
  if (!process.empty()) absl::StrAppend(&out, "  in ", process, "\n");
  if (f.has_location()) absl::StrAppend(&out, "  --> ", Where(f.location()), "\n");
  if (!f.scope().empty()) absl::StrAppend(&out, "  in test: ", f.scope(), "\n");
  for (const auto& rel : f.related()) {
    absl::StrAppend(&out, "  ", rel.role(), ": ", rel.message(), "\n");
    AppendStack(out, rel.stack(), "      ");
  }
  if (!f.fix().empty()) absl::StrAppend(&out, "  fix: ", f.fix(), "\n");
  absl::StrAppend(&out, "\n");
}

}  // namespace

std::string RenderText(const std::vector<findings::Report>& reports) {
  std::string out;
  int counts[4] = {0, 0, 0, 0};
  uint64_t events = 0;
  // With several processes' traces, each finding says which process it is in.
  std::set<uint32_t> pids;
  for (const auto& report : reports) pids.insert(report.pid());
  const bool several_processes = pids.size() > 1;
  for (const auto& report : reports) {
    events += report.events();
    std::string process = several_processes && report.pid() != 0 ? ProcessLine(report) : "";
    for (const auto& f : report.findings()) {
      AppendFinding(out, f, process);
      ++counts[f.severity() & 3];
    }
  }
  absl::StrAppend(&out, "waitgraph: ", counts[findings::ERROR], " error(s), ",
                  counts[findings::WARNING], " warning(s), ", counts[findings::NOTE],
                  " note(s) in ", reports.size() == 1 ? reports[0].trace() : absl::StrCat(reports.size(), " traces"),
                  " (", events, " events)\n");
  for (const auto& report : reports) {
    for (const auto& note : report.notes()) absl::StrAppend(&out, "note: ", note, "\n");
  }
  return out;
}

}  // namespace waitgraph::cli
