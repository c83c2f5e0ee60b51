// Request body parsing and surgical re-encoding; see request_body.h.
#include "pipeline/request_body.h"

#include "core/json_parser.h"
#include "core/json_scan.h"
#include "pipeline/headers.h"

#include <simdjson.h>

#include <algorithm>

namespace aigw::pipeline {

namespace {

bool iequals_true(std::string_view v) {
  return v.size() == 4 && (v[0] | 0x20) == 't' && (v[1] | 0x20) == 'r' && (v[2] | 0x20) == 'u' &&
         (v[3] | 0x20) == 'e';
}

// The audio endpoints' form: model, and (transcriptions) stream.
Result<ParsedRequest> parse_multipart_request(Endpoint endpoint, std::string_view body,
                                              std::string_view content_type) {
  auto boundary = multipart_boundary(content_type);
  if (!boundary)
    return Error::client(
        400, "malformed request: failed to parse multipart form data: missing boundary");
  auto parts = parse_multipart(body, *boundary);
  if (!parts)
    return Error::client(400, "malformed request: failed to parse multipart form data: " +
                                  parts.error().message);
  ParsedRequest out;
  out.multipart = true;
  out.boundary = std::string(*boundary);
  auto model = multipart_field(body, *parts, "model");
  if (!model) return Error::client(400, "malformed request: missing required field 'model'");
  if (!is_valid_header_value(*model))
    return Error::client(400, "invalid \"model\": a model name may not contain control characters");
  out.model = std::string(*model);
  bool has_file = std::any_of(parts->begin(), parts->end(),
                              [](const MultipartPart &p) { return p.name == "file"; });
  if (!has_file) return Error::client(400, "malformed request: missing required field 'file'");
  if (endpoint == Endpoint::kAudioTranscriptions)
    if (auto stream = multipart_field(body, *parts, "stream")) out.stream = iequals_true(*stream);
  out.parts = std::move(*parts);
  return out;
}

} // namespace

static_assert(kJsonPadding == simdjson::SIMDJSON_PADDING);

Result<ParsedRequest> parse_request_body(Endpoint endpoint, std::string_view body,
                                         std::string_view content_type, bool padded) {
  if (is_multipart_form(content_type)) {
    if (!takes_multipart(endpoint))
      return Error::client(400,
                           "malformed request: multipart body not supported for this endpoint");
    return parse_multipart_request(endpoint, body, content_type);
  }
  if (takes_multipart(endpoint))
    return Error::client(400, "malformed request: " + std::string(endpoint_path(endpoint)) +
                                  " takes a multipart/form-data body");
  thread_local simdjson::dom::parser parser;
  core::ReleaseAfterLarge release(parser, body.size());
  auto bad = [&](std::string_view why) {
    return Error::client(400, "malformed request: failed to parse JSON for " +
                                  std::string(endpoint_path(endpoint)) + ": " + std::string(why));
  };
  simdjson::dom::element doc;
  // simdjson needs SIMDJSON_PADDING readable bytes after the input; parse() copies when needed.
  auto err = parser.parse(body.data(), body.size(), !padded).get(doc);
  if (err) return bad(simdjson::error_message(err));
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return bad("the request body must be a JSON object");
  ParsedRequest out;
  // Fields are read in order and the last occurrence of a key wins, as in the providers' own
  // parsers (and Go's): a body with two "model" keys is routed by the one the provider will use.
  for (auto field : obj) {
    std::string_view key = field.key;
    simdjson::dom::element v = field.value;
    if (key == "model") {
      std::string_view model;
      if (v.get_string().get(model)) return bad("\"model\" must be a string");
      // The model reaches request heads (x-ai-eg-model) and provider paths: a CR or LF in it
      // would let a client write headers, or a second request, with the gateway's credentials.
      if (!is_valid_header_value(model))
        return Error::client(400,
                             "invalid \"model\": a model name may not contain control characters");
      out.model = std::string(model);
    } else if (key == "stream_format" && endpoint == Endpoint::kAudioSpeech) {
      std::string_view format;
      out.stream = !v.get_string().get(format) && format == "sse";
    } else if (key == "stream" && endpoint != Endpoint::kAudioSpeech) {
      bool stream = false;
      if (!v.get_bool().get(stream))
        out.stream = stream;
      else if (!v.is_null())
        return bad("\"stream\" must be a boolean");
      else
        out.stream = false;
    } else if (key == "stream_options") {
      out.include_usage = false;
      simdjson::dom::object so;
      if (!v.get_object().get(so)) {
        for (auto inner : so) {
          bool inc = false;
          if (inner.key == "include_usage")
            out.include_usage = !inner.value.get_bool().get(inc) && inc;
        }
      }
    } else if (key == "max_completion_tokens" || key == "max_tokens") {
      uint64_t n = 0;
      if (!v.get_uint64().get(n) && (key == "max_completion_tokens" || !out.max_tokens))
        out.max_tokens = n;
    }
  }
  if ((endpoint == Endpoint::kMessages || endpoint == Endpoint::kMessagesCountTokens) &&
      out.model.empty())
    return Error::client(400, "malformed request: model is required");
  if (endpoint == Endpoint::kTokenize) {
    // As upstream validates the vLLM union before routing.
    auto bad_tokenize = [](std::string_view why) {
      return Error::client(400, "malformed request: invalid tokenize request: " + std::string(why));
    };
    simdjson::dom::element e;
    if (!obj["messages"].get(e) && !obj["prompt"].get(e))
      return bad_tokenize("tokenize request must have either 'prompt' or 'messages', not both");
    if (out.model.empty()) return bad_tokenize("model is required");
  }
  // Counting tokens answers once, whatever `stream` says.
  if (endpoint == Endpoint::kResponsesInputTokens || endpoint == Endpoint::kTokenize ||
      endpoint == Endpoint::kEmbeddings)
    out.stream = false;
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
    if (spans->find("model")) {
      // Every occurrence: whichever one a parser keeps, it sees the override.
      for (const auto &m : spans->members)
        if (m.key_is("model"))
          edits.push_back({m.value_begin, m.value_end, json::quoted(model_override)});
    } else {
      std::string ins = "\"model\":" + json::quoted(model_override);
      if (!object_empty) ins += ',';
      edits.push_back({spans->open + 1, spans->open + 1, std::move(ins)});
      object_empty = false;
    }
  }
  if (inject_include_usage) {
    // Every stream_options (and every include_usage in it): whichever occurrence the provider's
    // parser keeps, it asks for usage.
    bool any = false;
    for (const auto &so : spans->members) {
      if (!so.key_is("stream_options")) continue;
      any = true;
      auto inner = json::scan_object(body.substr(so.value_begin, so.value_end - so.value_begin));
      if (!inner) { // null or not an object: replace it
        edits.push_back({so.value_begin, so.value_end, "{\"include_usage\":true}"});
        continue;
      }
      bool has = false;
      for (const auto &iu : inner->members)
        if (iu.key_is("include_usage")) {
          has = true;
          edits.push_back({so.value_begin + iu.value_begin, so.value_begin + iu.value_end, "true"});
        }
      if (!has) {
        std::string ins = "\"include_usage\":true";
        if (!inner->members.empty()) ins += ',';
        size_t at = so.value_begin + inner->open + 1;
        edits.push_back({at, at, std::move(ins)});
      }
    }
    if (!any) {
      std::string ins = object_empty ? "" : ",";
      ins += "\"stream_options\":{\"include_usage\":true}";
      edits.push_back({spans->close, spans->close, std::move(ins)});
    }
  }
  // Back to front so offsets stay valid. Edits at the same offset are insertions in the order
  // they were added; applying the later one first keeps that order in the text.
  std::vector<size_t> order(edits.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return edits[a].begin != edits[b].begin ? edits[a].begin > edits[b].begin : a > b;
  });
  std::string out(body);
  for (size_t i : order)
    out.replace(edits[i].begin, edits[i].end - edits[i].begin, edits[i].text);
  return out;
}

namespace {
bool looks_like_json(std::string_view v) {
  if (v.empty()) return false;
  if (v == "true" || v == "false" || v == "null") return true;
  char c = v.front();
  if (c == '"' || c == '{' || c == '[') return true;
  if (c == '-' || (c >= '0' && c <= '9')) {
    simdjson::dom::parser p;
    simdjson::dom::element e;
    return !p.parse(v.data(), v.size()).get(e) && e.is_number();
  }
  return false;
}
} // namespace

std::string apply_body_mutation(std::string_view body,
                                const std::vector<std::pair<std::string, std::string>> &set,
                                const std::vector<std::string> &remove) {
  std::string out(body);
  for (const auto &key : remove) {
    auto spans = json::scan_object(out);
    if (!spans) return std::string(body);
    const auto *m = spans->find(key);
    if (!m) continue;
    // Remove the member and one neighbouring comma.
    size_t begin = m->key_begin, end = m->value_end;
    size_t after = out.find_first_not_of(" \t\r\n", end);
    if (after != std::string::npos && out[after] == ',') {
      end = after + 1;
    } else {
      size_t before = out.find_last_not_of(" \t\r\n", begin == 0 ? 0 : begin - 1);
      if (before != std::string::npos && out[before] == ',') begin = before;
    }
    out = json::splice(out, begin, end, "");
  }
  for (const auto &[key, value] : set) {
    auto spans = json::scan_object(out);
    if (!spans) return std::string(body);
    std::string literal = looks_like_json(value) ? value : json::quoted(value);
    if (const auto *m = spans->find(key)) {
      out = json::splice(out, m->value_begin, m->value_end, literal);
    } else {
      std::string member = (spans->members.empty() ? "" : ",") + json::quoted(key) + ":" + literal;
      out = json::splice(out, spans->close, spans->close, member);
    }
  }
  return out;
}

} // namespace aigw::pipeline
