// Request body parsing and surgical re-encoding; see request_body.h.
#include "pipeline/request_body.h"

#include "core/json_scan.h"

#include <simdjson.h>

namespace aigw::pipeline {

Result<ParsedRequest> parse_request_body(Endpoint endpoint, std::string_view body) {
  thread_local simdjson::dom::parser parser;
  auto bad = [&](std::string_view why) {
    return Error::client(400, "malformed request: failed to parse JSON for " +
                                  std::string(endpoint_path(endpoint)) + ": " + std::string(why));
  };
  simdjson::dom::element doc;
  // simdjson needs SIMDJSON_PADDING readable bytes after the input; parse() copies when needed.
  auto err = parser.parse(body.data(), body.size(), true).get(doc);
  if (err) return bad(simdjson::error_message(err));
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return bad("the request body must be a JSON object");
  ParsedRequest out;
  std::string_view model;
  if (auto m = obj["model"]; !m.error()) {
    if (m.get_string().get(model)) return bad("\"model\" must be a string");
    out.model = std::string(model);
  }
  if (auto s = obj["stream"]; !s.error()) {
    bool stream = false;
    if (!s.get_bool().get(stream)) out.stream = stream;
    else if (!s.is_null()) return bad("\"stream\" must be a boolean");
  }
  if (auto so = obj["stream_options"]; !so.error()) {
    bool inc = false;
    if (!so["include_usage"].get_bool().get(inc)) out.include_usage = inc;
  }
  for (const char *k : {"max_completion_tokens", "max_tokens"}) {
    uint64_t v = 0;
    if (!obj[k].get_uint64().get(v)) {
      out.max_tokens = v;
      break;
    }
  }
  return out;
}

std::optional<std::string> encode_request_body(std::string_view body,
                                               std::string_view model_override,
                                               bool inject_include_usage) {
  if (model_override.empty() && !inject_include_usage) return std::nullopt;
  auto spans = json::scan_object(body);
  if (!spans) return std::nullopt; // cannot happen for a body that parsed; send it unchanged
  // Collect edits as (begin, end, replacement), applied back to front so offsets stay valid.
  struct Edit {
    size_t begin, end;
    std::string text;
  };
  std::vector<Edit> edits;
  bool object_empty = spans->members.empty();
  if (!model_override.empty()) {
    if (const auto *m = spans->find("model")) {
      edits.push_back({m->value_begin, m->value_end, json::quoted(model_override)});
    } else {
      std::string ins = "\"model\":" + json::quoted(model_override);
      if (!object_empty) ins += ',';
      edits.push_back({spans->open + 1, spans->open + 1, std::move(ins)});
      object_empty = false;
    }
  }
  if (inject_include_usage) {
    const auto *so = spans->find("stream_options");
    std::optional<json::ObjectSpans> inner;
    if (so) inner = json::scan_object(body.substr(so->value_begin, so->value_end - so->value_begin));
    if (so && inner) {
      if (const auto *iu = inner->find("include_usage")) {
        edits.push_back(
            {so->value_begin + iu->value_begin, so->value_begin + iu->value_end, "true"});
      } else {
        std::string ins = "\"include_usage\":true";
        if (!inner->members.empty()) ins += ',';
        size_t at = so->value_begin + inner->open + 1;
        edits.push_back({at, at, std::move(ins)});
      }
    } else if (so) { // stream_options is null or not an object: replace it
      edits.push_back({so->value_begin, so->value_end, "{\"include_usage\":true}"});
    } else {
      std::string ins = object_empty ? "" : ",";
      ins += "\"stream_options\":{\"include_usage\":true}";
      edits.push_back({spans->close, spans->close, std::move(ins)});
    }
  }
  std::sort(edits.begin(), edits.end(), [](const Edit &a, const Edit &b) { return a.begin > b.begin; });
  std::string out(body);
  for (const auto &e : edits) out.replace(e.begin, e.end - e.begin, e.text);
  return out;
}

} // namespace aigw::pipeline
