// JSON string quoting shared by the JSON and SARIF renderers.
#ifndef WAITGRAPH_CLI_JSON_WRITER_H_
#define WAITGRAPH_CLI_JSON_WRITER_H_

#include <string>
#include "absl/strings/string_view.h"

namespace waitgraph::cli {

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view s);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_JSON_WRITER_H_
