// Usage extraction; see usage.h.
#include "pipeline/usage.h"

#include "core/json_parser.h"

#include <simdjson.h>

#include <algorithm>

namespace aigw::pipeline {
namespace {

void read_usage(simdjson::dom::element e, TokenUsage &u) {
  auto get = [](simdjson::dom::element parent, const char *key) -> std::optional<uint64_t> {
    uint64_t v = 0;
    if (!parent[key].get_uint64().get(v)) return v;
    double d = 0;
    // Some providers send counts as floats (Cohere); anything outside uint64 is not a count.
    if (!parent[key].get_double().get(d) && d >= 0 && d < 18446744073709551616.0)
      return static_cast<uint64_t>(d);
    return std::nullopt;
  };
  // chat / completions / embeddings use prompt/completion; responses-style use input/output.
  u.input = get(e, "prompt_tokens");
  if (!u.input) u.input = get(e, "input_tokens");
  u.output = get(e, "completion_tokens");
  if (!u.output) u.output = get(e, "output_tokens");
  u.total = get(e, "total_tokens");
  // Chat and completions name the details prompt/completion, Responses and images input/output.
  simdjson::dom::element details;
  if ((!e["prompt_tokens_details"].get(details) && details.is_object()) ||
      (!e["input_tokens_details"].get(details) && details.is_object())) {
    u.cached_input = get(details, "cached_tokens");
    u.cache_creation_input = get(details, "cache_creation_input_tokens");
    // OpenAI's own name for prompt-cache writes (v1.2 counts it as cache creation).
    if (!u.cache_creation_input) u.cache_creation_input = get(details, "cache_write_tokens");
  }
  if ((!e["completion_tokens_details"].get(details) && details.is_object()) ||
      (!e["output_tokens_details"].get(details) && details.is_object()))
    u.reasoning = get(details, "reasoning_tokens");
}

} // namespace

BodyFacts extract_from_json(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  core::ReleaseAfterLarge release(parser, body.size());
  BodyFacts out;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size(), true).get(doc)) return out;
  simdjson::dom::element usage;
  if (!doc["usage"].get(usage) && usage.is_object()) {
    read_usage(usage, out.usage);
  } else if (uint64_t n = 0; !doc["input_tokens"].get_uint64().get(n)) {
    // A count of input tokens (responses/input_tokens, Anthropic's count_tokens): input only.
    out.usage.input = n;
  } else if (!doc["meta"]["tokens"].get(usage) && usage.is_object()) {
    // Cohere: meta.tokens.{input,output}_tokens (floats); total = their sum.
    read_usage(usage, out.usage);
    if (out.usage.input || out.usage.output)
      out.usage.total = out.usage.input.value_or(0) + out.usage.output.value_or(0);
  }
  std::string_view model;
  if (!doc["model"].get_string().get(model)) out.model = std::string(model);
  return out;
}

namespace {

std::optional<uint64_t> count_of(simdjson::dom::element parent, const char *key) {
  uint64_t v = 0;
  if (!parent[key].get_uint64().get(v)) return v;
  return std::nullopt;
}

// Anthropic's counts as upstream reports them (ExtractTokenUsageFromExplicitCaching).
TokenUsage explicit_caching(std::optional<uint64_t> in, std::optional<uint64_t> out,
                            std::optional<uint64_t> cache_read,
                            std::optional<uint64_t> cache_write) {
  TokenUsage u;
  if (!in && !out && !cache_read && !cache_write) return u;
  uint64_t input = in.value_or(0) + cache_read.value_or(0) + cache_write.value_or(0);
  u.input = input;
  u.output = out.value_or(0);
  u.total = input + out.value_or(0);
  u.cached_input = cache_read.value_or(0);
  u.cache_creation_input = cache_write.value_or(0);
  return u;
}

} // namespace

BodyFacts extract_anthropic_json(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  core::ReleaseAfterLarge release(parser, body.size());
  BodyFacts out;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size(), true).get(doc)) return out;
  simdjson::dom::element usage;
  if (!doc["usage"].get(usage) && usage.is_object()) {
    out.usage = explicit_caching(count_of(usage, "input_tokens"), count_of(usage, "output_tokens"),
                                 count_of(usage, "cache_read_input_tokens"),
                                 count_of(usage, "cache_creation_input_tokens"));
  } else if (auto n = count_of(doc, "input_tokens")) {
    out.usage.input = *n; // count_tokens
  }
  std::string_view model;
  if (!doc["model"].get_string().get(model)) out.model = std::string(model);
  return out;
}

void SseUsageScanner::on_anthropic(std::string_view data) {
  bool start = data.find("\"message_start\"") != std::string_view::npos;
  if (!start && data.find("\"message_delta\"") == std::string_view::npos) return;
  thread_local simdjson::dom::parser parser;
  core::ReleaseAfterLarge release(parser, data.size());
  simdjson::dom::element doc;
  if (parser.parse(data.data(), data.size(), true).get(doc)) return;
  std::string_view type;
  if (doc["type"].get_string().get(type)) return;
  simdjson::dom::element u;
  if (type == "message_start") {
    simdjson::dom::element msg;
    if (doc["message"].get(msg)) return;
    std::string_view model;
    if (model_.empty() && !msg["model"].get_string().get(model)) model_ = std::string(model);
    if (msg["usage"].get(u) || !u.is_object()) return;
  } else if (type != "message_delta" || doc["usage"].get(u) || !u.is_object()) {
    return;
  }
  // Field by field: a later event's count replaces the earlier one it carries.
  if (auto v = count_of(u, "input_tokens")) in_ = v;
  if (auto v = count_of(u, "output_tokens")) out_ = v;
  if (auto v = count_of(u, "cache_read_input_tokens")) cache_read_ = v;
  if (auto v = count_of(u, "cache_creation_input_tokens")) cache_write_ = v;
  usage_ = explicit_caching(in_, out_, cache_read_, cache_write_);
}

void SseUsageScanner::feed(std::string_view chunk) {
  splitter_.feed(chunk, [this](std::string_view line) { on_line(line); });
}

void SseUsageScanner::on_line(std::string_view line) {
  if (line.starts_with("event:")) {
    if (sse::parse_field(line).value == "error") error_ = true;
    return;
  }
  if (!line.starts_with("data:")) return;
  auto field = sse::parse_field(line);
  std::string_view data = field.value;
  if (data == "[DONE]") {
    done_ = true;
    return;
  }
  if (data.starts_with("{\"error\"")) error_ = true;
  if (anthropic_) {
    if (data.find("\"type\":\"error\"") != std::string_view::npos) error_ = true;
    on_anthropic(data);
    return;
  }
  bool wants_model = model_.empty();
  // Only chunks that carry a usage object (or the first, for the model) are worth parsing.
  size_t pos = data.find("\"usage\"");
  bool has_usage =
      pos != std::string_view::npos && data.find("\"usage\":null") == std::string_view::npos;
  if (!has_usage && !wants_model) return;
  thread_local simdjson::dom::parser parser;
  core::ReleaseAfterLarge release(parser, data.size());
  simdjson::dom::element doc;
  if (parser.parse(data.data(), data.size(), true).get(doc)) return;
  // The Responses API wraps the response in its events (response.created, .completed,
  // .incomplete, .failed): model and usage are read from there.
  simdjson::dom::element response;
  simdjson::dom::element obj = doc;
  if (!doc["response"].get(response) && response.is_object()) obj = response;
  if (wants_model) {
    std::string_view model;
    if (!obj["model"].get_string().get(model)) model_ = std::string(model);
  }
  simdjson::dom::element usage;
  if (has_usage && !obj["usage"].get(usage) && usage.is_object()) {
    TokenUsage u;
    read_usage(usage, u);
    usage_ = u;
  }
}

void UsageTail::feed(std::string_view chunk) {
  total_ += chunk.size();
  if (head_.size() < kHead) {
    size_t take = std::min(kHead - head_.size(), chunk.size());
    head_.append(chunk.substr(0, take));
  }
  if (chunk.size() >= kTail) {
    tail_.assign(chunk.substr(chunk.size() - kTail));
    return;
  }
  tail_.append(chunk);
  if (tail_.size() > 2 * kTail) tail_.erase(0, tail_.size() - kTail);
}

namespace {
// The end of the JSON value starting at `begin` (an object), or npos when it does not end in
// `s`. Strings are skipped with their escapes.
size_t object_end(std::string_view s, size_t begin) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = begin; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}
} // namespace

TokenUsage UsageTail::usage() const {
  std::string_view t = tail_;
  size_t pos = t.size();
  while ((pos = t.rfind("\"usage\"", pos == 0 ? 0 : pos - 1)) != std::string_view::npos) {
    size_t colon = t.find_first_not_of(" \t\r\n", pos + 7);
    if (colon != std::string_view::npos && t[colon] == ':') {
      size_t open = t.find_first_not_of(" \t\r\n", colon + 1);
      if (open != std::string_view::npos && t[open] == '{') {
        size_t end = object_end(t, open);
        if (end != std::string_view::npos) {
          std::string doc = "{\"usage\":";
          doc.append(t.substr(open, end - open));
          doc += '}';
          auto facts = extract_from_json(doc);
          if (facts.usage.any()) return facts.usage;
        }
      }
    }
    if (pos == 0) break;
  }
  return {};
}

std::string UsageTail::model() const {
  std::string_view h = head_;
  size_t pos = h.find("\"model\"");
  if (pos == std::string_view::npos) return {};
  size_t colon = h.find_first_not_of(" \t\r\n", pos + 7);
  if (colon == std::string_view::npos || h[colon] != ':') return {};
  size_t q = h.find_first_not_of(" \t\r\n", colon + 1);
  if (q == std::string_view::npos || h[q] != '"') return {};
  size_t end = h.find('"', q + 1);
  if (end == std::string_view::npos) return {};
  std::string_view m = h.substr(q + 1, end - q - 1);
  if (m.find('\\') != std::string_view::npos) return {}; // escaped: leave it to the fallback
  return std::string(m);
}

} // namespace aigw::pipeline
