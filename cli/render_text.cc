#include "cli/render_text.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "cli/text_layout.h"
#include "rules/rule_table.h"

namespace waitgraph::cli {
namespace {

using Findings = std::vector<const findings::Finding*>;

constexpr size_t kIndent = 2;        // the lines under a headline
constexpr size_t kDetailIndent = 4;  // continuation lines of a wrapped paragraph
constexpr size_t kFrameIndent = 6;   // the frames of a stack

class TextWriter {
 public:
  explicit TextWriter(const TextStyle& style) : style_(style), paint_(style.color) {}

  std::string& out() { return out_; }

  // `label` (painted) then `text`, wrapped; continuation lines indented by
  // `rest_indent` columns.
  void Paragraph(size_t indent, const std::string& label, Paint label_paint, const std::string& text,
                 size_t rest_indent) {
    size_t first = indent + Columns(label);
    size_t width = style_.width;
    std::vector<std::string> lines =
        WrapWords(text, width > first ? width - first : 1, width > rest_indent ? width - rest_indent : 1);
    absl::StrAppend(&out_, std::string(indent, ' '), paint_(label_paint, label), lines.front(), "\n");
    for (size_t i = 1; i < lines.size(); ++i) {
      absl::StrAppend(&out_, std::string(rest_indent, ' '), lines[i], "\n");
    }
  }

  void Finding(const Findings& group);
  void Stack(const google::protobuf::RepeatedPtrField<findings::Location>& stack);

  const Painter& paint() const { return paint_; }
  const TextStyle& style() const { return style_; }

 private:
  std::string Where(const findings::Location& loc) const {
    const std::string& path = loc.display_path().empty() ? loc.path() : loc.display_path();
    std::string out = absl::StrCat(path, ":", loc.line());
    if (!loc.function().empty()) absl::StrAppend(&out, " in ", loc.function());
    return out;
  }

  void Headline(const findings::Finding& f, size_t occurrences, bool& message_shown);

  const TextStyle& style_;
  Painter paint_;
  std::string out_;
};

Paint SeverityPaint(findings::Severity s) {
  switch (s) {
    case findings::ERROR: return Paint::kError;
    case findings::WARNING: return Paint::kWarning;
    default: return Paint::kNote;
  }
}

bool IsLibrary(const findings::Location& loc) {
  return loc.origin() == "stdlib" || loc.origin() == "site-packages";
}

// "asyncio" for <stdlib>/asyncio/tasks.py, "asgiref" for
// <site-packages>/asgiref/sync.py, "runpy" for <frozen runpy>: what a run of
// folded frames is made of.
std::string LibraryName(const findings::Location& loc) {
  absl::string_view path = loc.display_path();
  if (absl::ConsumePrefix(&path, "<frozen ")) return std::string(path.substr(0, path.find('>')));
  if (!absl::ConsumePrefix(&path, "<stdlib>/")) absl::ConsumePrefix(&path, "<site-packages>/");
  path = path.substr(0, path.find('/'));
  absl::ConsumeSuffix(&path, ".py");
  return std::string(path);
}

void TextWriter::Headline(const findings::Finding& f, size_t occurrences, bool& message_shown) {
  std::string severity = rules::SeverityName(f.severity());
  std::string prefix = absl::StrCat(severity, "[", f.code(), "]: ");
  std::string suffix = occurrences > 1 ? absl::StrCat(" (", Count(occurrences, "occurrence"), ")") : "";
  size_t room = style_.width > Columns(prefix) + Columns(suffix) + 8
                    ? style_.width - Columns(prefix) - Columns(suffix)
                    : 8;
  std::string text = f.headline();
  message_shown = false;
  if (text.empty() && Columns(f.message()) <= room) {
    text = f.message();
    message_shown = true;
  }
  if (text.empty()) text = f.message();
  absl::StrAppend(&out_, paint_(SeverityPaint(f.severity()), absl::StrCat(severity, "[", f.code(), "]")),
                  paint_(Paint::kBold, absl::StrCat(": ", FitToWidth(text, room), suffix)), "\n");
}

void TextWriter::Stack(const google::protobuf::RepeatedPtrField<findings::Location>& stack) {
  const std::string indent(kFrameIndent, ' ');
  auto frame_line = [&](const findings::Location& loc) {
    Paragraph(kFrameIndent, "at ", Paint::kDim, Where(loc), kFrameIndent + 3);
  };
  if (style_.full_stacks) {
    for (const auto& loc : stack) frame_line(loc);
    return;
  }
  // The innermost frame (where it waits) and the user's frames; each run of
  // library frames between them folded into one line.
  std::vector<const findings::Location*> run;
  auto flush = [&] {
    if (run.size() == 1) frame_line(*run.front());
    if (run.size() > 1) {
      std::vector<std::string> names;
      for (const auto* loc : run) {
        std::string name = LibraryName(*loc);
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      }
      std::string what = names.size() == 1 ? Count(run.size(), names.front() + " frame")
                                           : absl::StrCat(Count(run.size(), "library frame"), " (",
                                                          absl::StrJoin(names, ", "), ")");
      absl::StrAppend(&out_, indent, paint_(Paint::kDim, absl::StrCat("... ", what)), "\n");
    }
    run.clear();
  };
  for (int i = 0; i < stack.size(); ++i) {
    const findings::Location& loc = stack[i];
    if (i > 0 && IsLibrary(loc)) {
      run.push_back(&loc);
      continue;
    }
    flush();
    frame_line(loc);
  }
  flush();
}

void TextWriter::Finding(const Findings& group) {
  const findings::Finding& f = *group.front();
  bool message_shown = false;
  Headline(f, group.size(), message_shown);
  if (f.has_location()) Paragraph(kIndent, "--> ", Paint::kArrow, Where(f.location()), kDetailIndent + 2);
  if (!f.scope().empty()) Paragraph(kIndent, "in test: ", Paint::kLabel, f.scope(), kDetailIndent);
  if (!message_shown) Paragraph(kIndent, "= ", Paint::kArrow, f.message(), kDetailIndent);
  for (const auto& rel : f.related()) {
    Paragraph(kIndent, absl::StrCat(rel.role(), ": "), Paint::kLabel, rel.message(), kDetailIndent);
    Stack(rel.stack());
  }
  // The other occurrences of the same cause: where, and what differs.
  for (size_t i = 1; i < group.size(); ++i) {
    const findings::Finding& other = *group[i];
    Paragraph(kIndent, "also --> ", Paint::kArrow,
              other.has_location() ? Where(other.location()) : std::string("(no location)"),
              kDetailIndent + 2);
    Paragraph(kDetailIndent, "= ", Paint::kArrow, other.message(), kDetailIndent + 2);
    if (style_.full_stacks) {
      for (const auto& rel : other.related()) {
        Paragraph(kDetailIndent, absl::StrCat(rel.role(), ": "), Paint::kLabel, rel.message(),
                  kDetailIndent + 2);
        Stack(rel.stack());
      }
    }
  }
  if (!f.fix().empty()) Paragraph(kIndent, "fix: ", Paint::kFix, f.fix(), kDetailIndent);
  // The rule's name, and where to read more about it (rustc's --explain).
  Paragraph(kIndent, "rule: ", Paint::kLabel,
            absl::StrCat(f.name(), " (`waitgraph explain ", f.code(), "`)"), kDetailIndent);
  out_ += "\n";
}

// Findings of one rule and one cause (a shared client used on three closed
// loops, a lock's acquire and release) as one finding with its
// occurrences; the rest alone, in their order.
std::vector<Findings> MergeByCause(const findings::Report& report) {
  std::vector<Findings> groups;
  std::map<std::string, size_t> by_cause;
  for (const auto& f : report.findings()) {
    if (!f.cause().empty()) {
      auto [it, inserted] = by_cause.try_emplace(absl::StrCat(f.code(), "|", f.cause()), groups.size());
      if (!inserted) {
        groups[it->second].push_back(&f);
        continue;
      }
    }
    groups.push_back({&f});
  }
  return groups;
}

struct Tally {
  size_t by_severity[4] = {0, 0, 0, 0};
  uint64_t events = 0;
  void Add(const std::vector<Findings>& groups) {
    for (const auto& g : groups) ++by_severity[g.front()->severity() & 3];
  }
  std::string Text() const {
    return absl::StrCat(Count(by_severity[findings::ERROR], "error"), ", ",
                        Count(by_severity[findings::WARNING], "warning"), ", ",
                        Count(by_severity[findings::NOTE], "note"));
  }
};

// "process 1234 (a.py, child of 1200)", "process 4242 (/usr/bin/gunicorn,
// worker 2, child of 4240)": which process a trace recorded.
std::string ProcessText(const findings::Report& report) {
  std::string out = absl::StrCat("process ", report.pid());
  std::vector<std::string> about;
  if (!report.program().empty()) about.push_back(report.program());
  if (!report.role().empty()) about.push_back(report.role());
  if (report.parent_pid() != 0) about.push_back(absl::StrCat("child of ", report.parent_pid()));
  if (!about.empty()) absl::StrAppend(&out, " (", absl::StrJoin(about, ", "), ")");
  return out;
}

// One trace's summary line, above its findings when several traces are
// reported: which trace, which process, what was found in it.
std::string TraceSummary(const findings::Report& report, const Tally& tally) {
  std::string out = absl::StrCat("trace ", report.trace());
  if (report.pid() != 0) absl::StrAppend(&out, ", ", ProcessText(report));
  absl::StrAppend(&out, ": ", tally.Text(), " (", Count(report.events(), "event"), ")");
  return out;
}

// The notes of every trace, each said once: with several traces, a note
// says which trace it is about, or in how many it was seen.
std::vector<std::string> DeduplicatedNotes(const std::vector<findings::Report>& reports) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> traces_of;
  for (const auto& report : reports) {
    for (const auto& note : report.notes()) {
      auto& traces = traces_of[note];
      if (traces.empty()) order.push_back(note);
      if (traces.empty() || traces.back() != report.trace()) traces.push_back(report.trace());
    }
  }
  std::vector<std::string> out;
  for (const auto& note : order) {
    const auto& traces = traces_of[note];
    if (reports.size() == 1) {
      out.push_back(note);
    } else if (traces.size() == 1 && absl::StrContains(note, traces.front())) {
      out.push_back(note);  // it names its trace already
    } else if (traces.size() == 1) {
      out.push_back(absl::StrCat(note, " (in ", traces.front(), ")"));
    } else if (traces.size() == reports.size()) {
      out.push_back(absl::StrCat(note, " (in every trace)"));
    } else {
      out.push_back(absl::StrCat(note, " (in ", Count(traces.size(), "trace"), ")"));
    }
  }
  return out;
}

}  // namespace

std::string RenderText(const std::vector<findings::Report>& reports, const TextStyle& style) {
  TextWriter w(style);
  Tally total;
  const bool several = reports.size() > 1;
  for (const auto& report : reports) {
    std::vector<Findings> groups = MergeByCause(report);
    Tally tally;
    tally.Add(groups);
    tally.events = report.events();
    total.Add(groups);
    total.events += report.events();
    if (several) {
      w.Paragraph(0, "", Paint::kBold, w.paint()(Paint::kBold, TraceSummary(report, tally)), kIndent);
      if (!groups.empty()) w.out() += "\n";
    }
    for (const auto& group : groups) w.Finding(group);
  }
  if (several && !absl::EndsWith(w.out(), "\n\n")) w.out() += "\n";  // a finding ends in one
  w.Paragraph(0, "waitgraph: ", Paint::kBold,
              absl::StrCat(total.Text(), " in ",
                           several ? Count(reports.size(), "trace") : (reports.empty() ? "" : reports[0].trace()),
                           " (", Count(total.events, "event"), ")"),
              kIndent);
  for (const auto& note : DeduplicatedNotes(reports)) {
    w.Paragraph(0, "note: ", Paint::kNote, note, kDetailIndent + 2);
  }
  return w.out();
}

}  // namespace waitgraph::cli
