#include "cli/render_junit.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "rules/rule_table.h"

namespace waitgraph::cli {
namespace {

std::string XmlEscape(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters, even escaped.
        if (c >= 0x20 || c == '\n' || c == '\t') out += static_cast<char>(c);
    }
  }
  return out;
}

std::string FindingText(const findings::Finding& f) {
  std::string out = absl::StrCat(rules::SeverityName(f.severity()), "[", f.code(), "] ", f.message(), "\n");
  if (f.has_location()) {
    absl::StrAppend(&out, "  at ", f.location().path(), ":", f.location().line(), " in ",
                    f.location().function(), "\n");
  }
  if (!f.fix().empty()) absl::StrAppend(&out, "  fix: ", f.fix(), "\n");
  return out;
}

}  // namespace

std::string RenderJunit(const std::vector<findings::Report>& reports, int fail_on) {
  std::string suites;
  int total_tests = 0, total_failures = 0;
  for (const auto& report : reports) {
    std::string cases;
    int failures = 0, tests = 0;
    for (const auto& info : rules::RuleTable()) {
      if (info.group == rules::RuleGroup::kRemoved) continue;
      ++tests;
      std::string text;
      int count = 0;
      for (const auto& f : report.findings()) {
        if (f.code() != info.code || f.severity() < fail_on) continue;
        ++count;
        text += FindingText(f);
      }
      absl::StrAppend(&cases, "    <testcase classname=\"waitgraph.", info.name, "\" name=\"",
                      XmlEscape(report.trace()), "\">");
      if (count > 0) {
        ++failures;
        absl::StrAppend(&cases, "\n      <failure type=\"", info.code, "\" message=\"", count, " ",
                        info.name, count == 1 ? " finding\">" : " findings\">", XmlEscape(text), "</failure>\n    ");
      }
      absl::StrAppend(&cases, "</testcase>\n");
    }
    total_tests += tests;
    total_failures += failures;
    absl::StrAppend(&suites, "  <testsuite name=\"waitgraph: ", XmlEscape(report.trace()),
                    "\" tests=\"", tests, "\" failures=\"", failures, "\" errors=\"0\">\n", cases,
                    "  </testsuite>\n");
  }
  return absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"waitgraph\" tests=\"",
                      total_tests, "\" failures=\"", total_failures, "\">\n", suites,
                      "</testsuites>\n");
}

}  // namespace waitgraph::cli
