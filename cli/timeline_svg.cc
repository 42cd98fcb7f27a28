#include "cli/timeline_svg.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace waitgraph::cli {
namespace {

constexpr double kLabelWidth = 300;  // the track names, left of the plot
constexpr double kPlotWidth = 900;
constexpr double kRowHeight = 24;
constexpr double kTop = 46;  // the time axis and the findings' labels
constexpr size_t kMaxLabel = 44;

std::string Num(double v) { return absl::StrFormat("%.1f", v); }

std::string Tooltip(const std::string& name, const Args2& args) {
  std::string text = name;
  for (const auto& [key, value] : args) {
    if (!value.empty()) absl::StrAppend(&text, "\n", key, ": ", value);
  }
  return absl::StrCat("<title>", XmlEscape(text), "</title>");
}

std::string Shorten(const std::string& text) {
  if (text.size() <= kMaxLabel) return text;
  size_t cut = kMaxLabel - 1;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return absl::StrCat(text.substr(0, cut), "…");
}

// A "nice" step for about `ticks` axis ticks over `span` ns.
double TickStep(double span, int ticks) {
  double raw = span / ticks;
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= raw) return m * p;
  }
  return 10 * p;
}

std::string TimeLabel(double ns) {
  if (ns == 0) return "0";
  if (ns >= 1e9) return absl::StrFormat("%.3g s", ns / 1e9);
  if (ns >= 1e6) return absl::StrFormat("%.3g ms", ns / 1e6);
  return absl::StrFormat("%.3g µs", ns / 1e3);
}

class Painter {
 public:
  explicit Painter(const TimelineView& view)
      : view_(view), span_(std::max<double>(1, view.end - view.origin)) {}

  std::string Paint() {
    const double height = kTop + kRowHeight * view_.tracks.size() + 34;
    std::string svg = absl::StrCat(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"",
        Num(kLabelWidth + kPlotWidth + 20), "\" height=\"", Num(height), "\" viewBox=\"0 0 ",
        Num(kLabelWidth + kPlotWidth + 20), " ", Num(height),
        "\" font-family=\"sans-serif\" font-size=\"11\">\n",
        "<defs><marker id=\"wg-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" "
        "markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" "
        "fill=\"#7c3aed\"/></marker></defs>\n");
    Rows(svg);
    Axis(svg);
    for (const TimelineSpan& span : view_.spans) {
      if (span.category == "loop") Span(svg, span);  // behind the rest
    }
    for (const TimelineSpan& span : view_.spans) {
      if (span.category != "loop") Span(svg, span);
    }
    for (const TimelineFlow& flow : view_.flows) Flow(svg, flow);
    for (const TimelineInstant& instant : view_.instants) Instant(svg, instant);
    FindingLabels(svg);
    Legend(svg, height - 14);
    return svg + "</svg>\n";
  }

 private:
  double X(analyzer::TimeNs t) const { return kLabelWidth + (t - view_.origin) / span_ * kPlotWidth; }
  double RowY(size_t track) const { return kTop + track * kRowHeight; }

  void Rows(std::string& svg) const {
    for (size_t i = 0; i < view_.tracks.size(); ++i) {
      const TimelineTrack& track = view_.tracks[i];
      absl::StrAppend(&svg, "<g class=\"track\"><rect x=\"0\" y=\"", Num(RowY(i)), "\" width=\"",
                      Num(kLabelWidth + kPlotWidth), "\" height=\"", Num(kRowHeight), "\" fill=\"",
                      i % 2 ? "#f8fafc" : "#ffffff", "\"/><text x=\"4\" y=\"", Num(RowY(i) + 16),
                      "\" fill=\"", track.is_loop ? "#166534" : "#1e3a8a", "\">",
                      XmlEscape(Shorten(track.name)), "<title>", XmlEscape(track.name), "</title></text></g>\n");
    }
  }

  void Axis(std::string& svg) const {
    double step = TickStep(span_, 8);
    for (double t = 0; t <= span_ + 1; t += step) {
      double x = kLabelWidth + t / span_ * kPlotWidth;
      absl::StrAppend(&svg, "<line x1=\"", Num(x), "\" y1=\"", Num(kTop - 6), "\" x2=\"", Num(x), "\" y2=\"",
                      Num(kTop + kRowHeight * view_.tracks.size()), "\" stroke=\"#e2e8f0\"/>",
                      "<text x=\"", Num(x), "\" y=\"", Num(kTop - 9), "\" text-anchor=\"middle\" fill=\"#475569\">",
                      XmlEscape(TimeLabel(t)), "</text>\n");
    }
  }

  void Span(std::string& svg, const TimelineSpan& span) const {
    const char* fill = span.category == "loop"    ? "#bbf7d0"
                       : span.category == "stall" ? "#f97316"
                       : span.open                ? "#dc2626"
                                                  : "#60a5fa";
    double inset = span.category == "loop" ? 2 : span.category == "stall" ? 6 : 5;
    double x = X(span.begin), w = std::max(1.5, X(span.end) - x);
    absl::StrAppend(&svg, "<rect class=\"", span.category, "\" x=\"", Num(x), "\" y=\"",
                    Num(RowY(span.track) + inset), "\" width=\"", Num(w), "\" height=\"",
                    Num(kRowHeight - 2 * inset), "\" fill=\"", fill, "\" rx=\"2\">",
                    Tooltip(span.name, span.args), "</rect>\n");
  }

  void Flow(std::string& svg, const TimelineFlow& flow) const {
    double x = X(flow.time);
    double y1 = RowY(flow.from) + kRowHeight / 2, y2 = RowY(flow.to) + kRowHeight / 2;
    absl::StrAppend(&svg, "<path class=\"handoff\" d=\"M ", Num(x), " ", Num(y1), " C ", Num(x + 14), " ",
                    Num(y1), " ", Num(x + 14), " ", Num(y2), " ", Num(x + 2), " ", Num(y2),
                    "\" fill=\"none\" stroke=\"#7c3aed\" stroke-width=\"1.3\" marker-end=\"url(#wg-arrow)\">",
                    Tooltip(absl::StrCat("hand-off: ", flow.name), flow.args), "</path>\n");
  }

  void Instant(std::string& svg, const TimelineInstant& instant) const {
    double x = X(instant.time);
    if (instant.track == TimelineInstant::kGlobal) {
      absl::StrAppend(&svg, "<g class=\"finding-mark\"><line x1=\"", Num(x), "\" y1=\"", Num(kTop - 4),
                      "\" x2=\"", Num(x), "\" y2=\"", Num(kTop + kRowHeight * view_.tracks.size()),
                      "\" stroke=\"#b91c1c\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>",
                      Tooltip(instant.name, instant.args), "</g>\n");
      return;
    }
    double y = RowY(instant.track) + kRowHeight / 2;
    const char* fill = instant.name == "loop closed" ? "#111827" : instant.name == "loop stopped" ? "#f59e0b" : "#16a34a";
    absl::StrAppend(&svg, "<path class=\"loop-mark\" d=\"M ", Num(x), " ", Num(y - 6), " L ", Num(x + 5), " ",
                    Num(y), " L ", Num(x), " ", Num(y + 6), " L ", Num(x - 5), " ", Num(y), " z\" fill=\"", fill,
                    "\">", Tooltip(instant.name, instant.args), "</path>\n");
  }

  // The findings' names above the plot, in time order, on two staggered
  // lines so that neighbours do not overprint each other.
  void FindingLabels(std::string& svg) const {
    std::vector<const TimelineInstant*> marks;
    for (const TimelineInstant& instant : view_.instants) {
      if (instant.track == TimelineInstant::kGlobal) marks.push_back(&instant);
    }
    std::sort(marks.begin(), marks.end(), [](auto* a, auto* b) { return a->time < b->time; });
    for (size_t i = 0; i < marks.size(); ++i) {
      double x = std::min(X(marks[i]->time), kLabelWidth + kPlotWidth - 4);
      absl::StrAppend(&svg, "<text class=\"finding-label\" x=\"", Num(x), "\" y=\"", i % 2 ? "26" : "13",
                      "\" text-anchor=\"end\" fill=\"#b91c1c\">", XmlEscape(marks[i]->name),
                      Tooltip(marks[i]->name, marks[i]->args), "</text>\n");
    }
  }

  void Legend(std::string& svg, double y) const {
    struct Item { const char* color; const char* text; };
    const Item items[] = {{"#60a5fa", "wait"}, {"#dc2626", "wait still open at the end"},
                          {"#f97316", "loop stall"}, {"#bbf7d0", "loop running"},
                          {"#7c3aed", "hand-off into a loop"}, {"#16a34a", "loop created / stopped / closed"},
                          {"#b91c1c", "finding"}};
    double x = 4;
    for (const Item& item : items) {
      absl::StrAppend(&svg, "<rect x=\"", Num(x), "\" y=\"", Num(y - 9), "\" width=\"12\" height=\"10\" fill=\"",
                      item.color, "\"/><text x=\"", Num(x + 16), "\" y=\"", Num(y), "\" fill=\"#334155\">",
                      item.text, "</text>\n");
      x += 24 + 6.2 * std::string(item.text).size();
    }
  }

  const TimelineView& view_;
  const double span_;
};

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string TimelineSvg(const TimelineView& view) { return Painter(view).Paint(); }

}  // namespace waitgraph::cli
