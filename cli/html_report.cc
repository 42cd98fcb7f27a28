#include "cli/html_report.h"


#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/cycle_picture.h"
#include "cli/text_layout.h"
#include "cli/timeline_svg.h"
#include "rules/rule_table.h"

namespace waitgraph::cli {
namespace {

constexpr char kStyle[] = R"(
body { font-family: sans-serif; margin: 24px; color: #0f172a; max-width: 1300px; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { color: #475569; margin-bottom: 16px; }
.finding { border: 1px solid #e2e8f0; border-left: 6px solid #94a3b8; border-radius: 6px;
           padding: 10px 14px; margin: 14px 0; }
.finding.error { border-left-color: #dc2626; }
.finding.warning { border-left-color: #f59e0b; }
.finding.note { border-left-color: #3b82f6; }
.finding h2 { font-size: 15px; margin: 0 0 6px; font-family: monospace; }
.message { margin: 4px 0 8px; }
.where, .related, .fix { font-family: monospace; font-size: 12.5px; }
.fix { color: #166534; margin-top: 8px; }
details { margin: 2px 0; }
summary { cursor: pointer; }
.stack { margin: 2px 0 4px 22px; color: #475569; }
figure { margin: 10px 0; overflow-x: auto; }
figcaption { font-size: 12px; color: #475569; }
.timeline-box { overflow-x: auto; border: 1px solid #e2e8f0; border-radius: 6px; padding: 6px; }
.note-line { color: #92400e; }
)";

std::string Where(const findings::Location& loc, const std::string& root) {
  return absl::StrCat(ShortWhere(loc, root), " in ", loc.function());
}

std::string StackHtml(const google::protobuf::RepeatedPtrField<findings::Location>& stack,
                      const std::string& root) {
  std::string out = "<div class=\"stack\">";
  for (const findings::Location& loc : stack) {
    absl::StrAppend(&out, "at ", XmlEscape(Where(loc, root)), "<br>");
  }
  return out + "</div>";
}

// The SVG element of a Graphviz document, without its XML prologue and
// DOCTYPE (inline in HTML they are not allowed).
std::string InlineSvg(const std::string& document) {
  size_t start = document.find("<svg");
  return start == std::string::npos ? "" : document.substr(start);
}

std::string FindingHtml(const findings::Finding& f, int number, const std::string& trace,
                        const std::string& root) {
  std::string severity = rules::SeverityName(f.severity());
  std::string out = absl::StrCat("<article class=\"finding ", severity, "\" id=\"finding-", number, "\">\n",
                                 "<h2>", number, ". ", severity, "[", XmlEscape(f.code()), "] ",
                                 XmlEscape(f.name()), "</h2>\n<p class=\"message\">", XmlEscape(f.message()),
                                 "</p>\n");
  if (f.has_location()) {
    absl::StrAppend(&out, "<div class=\"where\">--&gt; ", XmlEscape(Where(f.location(), root)), "</div>\n");
  }
  if (!f.scope().empty()) absl::StrAppend(&out, "<div class=\"where\">in test: ", XmlEscape(f.scope()), "</div>\n");
  for (const findings::RelatedLocation& rel : f.related()) {
    absl::StrAppend(&out, "<details class=\"related\"><summary>", XmlEscape(rel.role()), ": ",
                    XmlEscape(rel.message()),
                    rel.has_location() ? absl::StrCat(" (", XmlEscape(Where(rel.location(), root)), ")") : "",
                    "</summary>", StackHtml(rel.stack(), root), "</details>\n");
  }
  if (!f.fix().empty()) absl::StrAppend(&out, "<div class=\"fix\">fix: ", XmlEscape(f.fix()), "</div>\n");
  if (f.cycle().nodes_size() > 0) {
    std::string title = absl::StrCat(f.code(), " ", f.name(), ": ", trace);
    absl::StatusOr<std::string> svg = CycleSvg(f.cycle(), title, root);
    absl::StrAppend(&out, "<figure class=\"cycle\">",
                    svg.ok() ? InlineSvg(*svg)
                             : absl::StrCat("<p class=\"note-line\">", XmlEscape(std::string(svg.status().message())), "</p>"),
                    f.cycle().latent()
                        ? "<figcaption>a latent cycle: each arrow was seen at some time, never all at "
                          "once; together they deadlock</figcaption>"
                        : "<figcaption>the wait-for cycle: each arrow waits for the node it points "
                          "at</figcaption>",
                    "</figure>\n");
  }
  return out + "</article>\n";
}

}  // namespace

namespace {

std::string PageHead(const std::string& title) {
  return absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
      "img-src data:\">\n<title>waitgraph: ",
      XmlEscape(title), "</title>\n<style>", kStyle, "</style></head>\n<body>\n<h1>waitgraph report</h1>\n");
}

// One trace's summary, notes, findings and timeline. `suffix` keeps element
// ids unique when a page holds several traces ("" for the first).
std::string TraceSection(const TracePage& page, const std::string& source_root, const std::string& suffix) {
  const findings::Report& report = page.report;
  const TimelineView& timeline = page.timeline;
  int counts[4] = {0, 0, 0, 0};
  for (const findings::Finding& f : report.findings()) ++counts[f.severity() & 3];
  std::string process = XmlEscape(timeline.process_name);
  if (report.pid() != 0 && !report.role().empty()) {
    process = absl::StrCat("process ", report.pid(), " (", XmlEscape(report.role()), ") ", process);
  }
  std::string out = absl::StrCat(
      "<div class=\"summary\">", XmlEscape(report.trace()), " · ", process, " · ",
      Count(report.events(), "event"), " · ",
      absl::StrFormat("%.3f s", (timeline.end - timeline.origin) / 1e9), " · <span id=\"counts", suffix, "\">",
      Count(counts[findings::ERROR], "error"), ", ", Count(counts[findings::WARNING], "warning"), ", ",
      Count(counts[findings::NOTE], "note"), "</span></div>\n");
  for (const std::string& note : report.notes()) {
    absl::StrAppend(&out, "<p class=\"note-line\">note: ", XmlEscape(note), "</p>\n");
  }
  absl::StrAppend(&out, "<section id=\"findings", suffix, "\">\n");
  if (report.findings_size() == 0) absl::StrAppend(&out, "<p>No findings.</p>\n");
  for (int i = 0; i < report.findings_size(); ++i) {
    absl::StrAppend(&out, FindingHtml(report.findings(i), i + 1, report.trace(), source_root));
  }
  absl::StrAppend(&out, "</section>\n<section id=\"timeline", suffix, "\">\n<h2>Timeline</h2>\n",
                  "<p class=\"summary\">a row per thread and per event loop; hover an item for its details</p>\n",
                  "<div class=\"timeline-box\">", TimelineSvg(timeline), "</div>\n</section>\n");
  return out;
}

}  // namespace

std::string HtmlReport(const findings::Report& report, const TimelineView& timeline,
                       const std::string& source_root) {
  return HtmlReport(std::vector<TracePage>{{report, timeline}}, source_root);
}

std::string HtmlReport(const std::vector<TracePage>& traces, const std::string& source_root) {
  std::string out = PageHead(traces.size() == 1 ? traces[0].report.trace() : Count(traces.size(), "trace"));
  for (size_t i = 0; i < traces.size(); ++i) {
    if (traces.size() > 1) absl::StrAppend(&out, "<h2>", XmlEscape(traces[i].report.trace()), "</h2>\n");
    absl::StrAppend(&out, TraceSection(traces[i], source_root, i == 0 ? "" : absl::StrCat("-", i + 1)));
  }
  absl::StrAppend(&out, "</body></html>\n");
  return out;
}

}  // namespace waitgraph::cli
