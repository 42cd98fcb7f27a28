#include "cli/trace_event.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/json_writer.h"

namespace waitgraph::cli {
namespace {

// A hand-off is a moment; its slices are this long (µs) so that the flow's
// ends have a slice to bind to without overlapping what follows.
constexpr double kHandoffSliceUs = 0.1;

class Writer {
 public:
  explicit Writer(const TimelineView& view) : view_(view) {}

  std::string Write() {
    WriteMetadata();
    for (const TimelineSpan& span : view_.spans) WriteSpan(span);
    for (size_t i = 0; i < view_.flows.size(); ++i) WriteFlow(view_.flows[i], i + 1);
    for (const TimelineInstant& instant : view_.instants) WriteInstant(instant);
    return absl::StrCat("{\"displayTimeUnit\": \"ms\", \"otherData\": {\"producer\": \"waitgraph\"},\n",
                        "\"traceEvents\": [\n", out_, "\n]}\n");
  }

 private:
  // Microseconds since the trace's first event, to the nanosecond.
  std::string Us(analyzer::TimeNs time) const {
    return absl::StrFormat("%.3f", static_cast<double>(time - view_.origin) / 1000.0);
  }

  std::string ArgsJson(const Args2& args) const {
    std::string out = "{";
    for (const auto& [name, value] : args) {
      if (value.empty()) continue;
      absl::StrAppend(&out, out.size() > 1 ? ", " : "", JsonQuote(name), ": ", JsonQuote(value));
    }
    return out + "}";
  }

  void Add(const std::string& event) { absl::StrAppend(&out_, out_.empty() ? "" : ",\n", event); }

  std::string Common(const char* phase, const std::string& name, const std::string& category,
                     uint64_t tid) const {
    return absl::StrCat("{\"ph\": \"", phase, "\", \"name\": ", JsonQuote(name), ", \"cat\": ",
                        JsonQuote(category), ", \"pid\": ", view_.pid, ", \"tid\": ", tid);
  }

  void WriteMetadata() {
    Add(absl::StrCat("{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": ", view_.pid,
                     ", \"tid\": 0, \"args\": {\"name\": ", JsonQuote(view_.process_name), "}}"));
    for (size_t i = 0; i < view_.tracks.size(); ++i) {
      const TimelineTrack& track = view_.tracks[i];
      Add(absl::StrCat("{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": ", view_.pid,
                       ", \"tid\": ", track.tid, ", \"args\": {\"name\": ", JsonQuote(track.name), "}}"));
      Add(absl::StrCat("{\"ph\": \"M\", \"name\": \"thread_sort_index\", \"pid\": ", view_.pid,
                       ", \"tid\": ", track.tid, ", \"args\": {\"sort_index\": ", i, "}}"));
    }
  }

  void WriteSpan(const TimelineSpan& span) {
    Args2 args = span.args;
    Add(absl::StrCat(Common("X", span.name, span.category, view_.tracks[span.track].tid),
                     ", \"ts\": ", Us(span.begin),
                     ", \"dur\": ", absl::StrFormat("%.3f", (span.end - span.begin) / 1000.0),
                     ", \"args\": ", ArgsJson(args), "}"));
  }

  void WriteFlow(const TimelineFlow& flow, size_t id) {
    const std::string ts = Us(flow.time);
    const std::string dur = absl::StrFormat("%.3f", kHandoffSliceUs);
    const std::string mid = absl::StrFormat("%.3f", (flow.time - view_.origin) / 1000.0 + kHandoffSliceUs / 2);
    const uint64_t from = view_.tracks[flow.from].tid, to = view_.tracks[flow.to].tid;
    Add(absl::StrCat(Common("X", flow.name, "handoff", from), ", \"ts\": ", ts, ", \"dur\": ", dur,
                     ", \"args\": ", ArgsJson(flow.args), "}"));
    Add(absl::StrCat(Common("X", absl::StrCat("handed in: ", flow.name), "handoff", to), ", \"ts\": ", ts,
                     ", \"dur\": ", dur, ", \"args\": ", ArgsJson(flow.args), "}"));
    Add(absl::StrCat(Common("s", flow.name, "handoff", from), ", \"id\": ", id, ", \"ts\": ", mid, "}"));
    Add(absl::StrCat(Common("f", flow.name, "handoff", to), ", \"id\": ", id, ", \"bp\": \"e\", \"ts\": ",
                     mid, "}"));
  }

  void WriteInstant(const TimelineInstant& instant) {
    bool global = instant.track == TimelineInstant::kGlobal;
    Add(absl::StrCat(Common("i", instant.name, instant.category, global ? 0 : view_.tracks[instant.track].tid),
                     ", \"s\": \"", global ? "g" : "t", "\", \"ts\": ", Us(instant.time),
                     ", \"args\": ", ArgsJson(instant.args), "}"));
  }

  const TimelineView& view_;
  std::string out_;
};

}  // namespace

std::string TraceEventJson(const TimelineView& view) { return Writer(view).Write(); }

}  // namespace waitgraph::cli
