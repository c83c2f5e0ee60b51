// Shared testupstream helpers: JSON quoting, base64, and the canned OpenAI-compatible responses.
#pragma once

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace testupstream {

// Returns `s` as a JSON string literal, including the surrounding quotes.
inline std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
        out += buf;
      } else {
        out.push_back(c);
      }
    }
  }
  out.push_back('"');
  return out;
}

inline constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

inline std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                            (static_cast<unsigned char>(in[i + 1]) << 8) |
                            static_cast<unsigned char>(in[i + 2]);
    out.push_back(kBase64Alphabet[(v >> 18) & 63]);
    out.push_back(kBase64Alphabet[(v >> 12) & 63]);
    out.push_back(kBase64Alphabet[(v >> 6) & 63]);
    out.push_back(kBase64Alphabet[v & 63]);
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) {
      v |= static_cast<unsigned char>(in[i + 1]) << 8;
    }
    out.push_back(kBase64Alphabet[(v >> 18) & 63]);
    out.push_back(kBase64Alphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kBase64Alphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// Decodes standard padded base64 like Go's base64.StdEncoding.DecodeString: CR and LF are
// ignored, anything else outside the alphabet or misplaced padding is an error. On failure
// returns false and sets `error` to a Go-like message.
inline bool base64_decode(std::string_view in, std::string &out, std::string &error) {
  std::string clean;
  clean.reserve(in.size());
  for (const char c : in) {
    if (c != '\r' && c != '\n') {
      clean.push_back(c);
    }
  }
  out.clear();
  out.reserve(clean.size() / 4 * 3);
  const auto illegal = [&error](std::size_t pos) {
    error = "illegal base64 data at input byte " + std::to_string(pos);
    return false;
  };
  std::size_t i = 0;
  while (i < clean.size()) {
    std::array<int, 4> v{};
    int pads = 0;
    for (int j = 0; j < 4; ++j) {
      const std::size_t pos = i + static_cast<std::size_t>(j);
      if (pos >= clean.size()) {
        return illegal(clean.size()); // truncated quantum
      }
      const char c = clean[pos];
      if (c == '=') {
        if (j < 2) {
          return illegal(pos);
        }
        ++pads;
        v[static_cast<std::size_t>(j)] = 0;
        continue;
      }
      if (pads > 0) {
        return illegal(pos);
      }
      const auto idx = kBase64Alphabet.find(c);
      if (idx == std::string_view::npos) {
        return illegal(pos);
      }
      v[static_cast<std::size_t>(j)] = static_cast<int>(idx);
    }
    if (pads > 0 && i + 4 != clean.size()) {
      return illegal(i + 4);
    }
    const std::uint32_t n =
        (static_cast<std::uint32_t>(v[0]) << 18) | (static_cast<std::uint32_t>(v[1]) << 12) |
        (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (pads < 2) {
      out.push_back(static_cast<char>((n >> 8) & 0xff));
    }
    if (pads < 1) {
      out.push_back(static_cast<char>(n & 0xff));
    }
    i += 4;
  }
  return true;
}

// Canned responses used when a request carries no x-response-body header.
namespace canned {

inline constexpr std::string_view kReply = "Hello from the aigw test upstream!";
inline constexpr std::string_view kDefaultModel = "aigw-test-model";

enum class Endpoint { kNone, kChatCompletions, kCompletions, kEmbeddings };

inline Endpoint classify(std::string_view method, std::string_view path) {
  if (method != "POST") {
    return Endpoint::kNone;
  }
  if (path.ends_with("/chat/completions")) {
    return Endpoint::kChatCompletions;
  }
  if (path.ends_with("/completions")) {
    return Endpoint::kCompletions;
  }
  if (path.ends_with("/embeddings")) {
    return Endpoint::kEmbeddings;
  }
  return Endpoint::kNone;
}

// What the canned responses need to know about an OpenAI request body.
struct RequestInfo {
  std::string model{kDefaultModel};
  bool has_model = false;
  bool stream = false;
  bool include_usage = false;
  int prompt_tokens = 1;            // crude estimate: whitespace separated words, at least 1
  std::vector<int> input_tokens{1}; // embeddings: estimate per input
  bool base64_embeddings = false;
  int dimensions = 8;
  int chunks = 0; // x-response-chunks: a streamed chat answer of this many content events
};

inline int count_words(std::string_view s) {
  int n = 0;
  bool in_word = false;
  for (const char c : s) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) {
      ++n;
    }
    in_word = !space;
  }
  return n;
}

// Counts "tokens" in a prompt-like value: words of strings, one per number, recursing into
// arrays and into the "text" member of content parts.
inline int count_tokens(simdjson::dom::element el) {
  switch (el.type()) {
  case simdjson::dom::element_type::STRING: {
    std::string_view s;
    return el.get(s) ? 0 : count_words(s);
  }
  case simdjson::dom::element_type::INT64:
  case simdjson::dom::element_type::UINT64:
  case simdjson::dom::element_type::DOUBLE: return 1;
  case simdjson::dom::element_type::ARRAY: {
    simdjson::dom::array arr;
    if (el.get(arr)) {
      return 0;
    }
    int n = 0;
    for (simdjson::dom::element child : arr) {
      n += count_tokens(child);
    }
    return n;
  }
  case simdjson::dom::element_type::OBJECT: {
    simdjson::dom::element text;
    return el["text"].get(text) ? 0 : count_tokens(text);
  }
  default: return 0;
  }
}

inline RequestInfo inspect_request(std::string_view body) {
  RequestInfo info;
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(body);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) || !doc.is_object()) {
    return info;
  }
  std::string_view sv;
  if (!doc["model"].get(sv)) {
    info.model = std::string(sv);
    info.has_model = true;
  }
  bool b = false;
  if (!doc["stream"].get(b)) {
    info.stream = b;
  }
  if (!doc.at_pointer("/stream_options/include_usage").get(b)) {
    info.include_usage = b;
  }
  if (!doc["encoding_format"].get(sv)) {
    info.base64_embeddings = sv == "base64";
  }
  std::int64_t dims = 0;
  if (!doc["dimensions"].get(dims) && dims >= 1 && dims <= 4096) {
    info.dimensions = static_cast<int>(dims);
  }
  int tokens = 0;
  simdjson::dom::array messages;
  if (!doc["messages"].get(messages)) {
    for (simdjson::dom::element msg : messages) {
      simdjson::dom::element content;
      if (!msg["content"].get(content)) {
        tokens += count_tokens(content);
      }
    }
  }
  simdjson::dom::element prompt;
  if (!doc["prompt"].get(prompt)) {
    tokens += count_tokens(prompt);
  }
  simdjson::dom::element input;
  if (!doc["input"].get(input)) {
    info.input_tokens.clear();
    simdjson::dom::array arr;
    if (input.get(arr)) {
      info.input_tokens.push_back(std::max(1, count_tokens(input)));
    } else if (arr.size() > 0 && arr.at(0).is_number()) {
      info.input_tokens.push_back(static_cast<int>(arr.size())); // one token array
    } else {
      for (simdjson::dom::element child : arr) {
        info.input_tokens.push_back(std::max(1, count_tokens(child)));
      }
    }
    for (const int t : info.input_tokens) {
      tokens += t;
    }
  }
  info.prompt_tokens = std::max(1, tokens);
  return info;
}

inline std::string next_id(std::string_view prefix) {
  static std::atomic<unsigned long long> counter{0};
  char buf[64];
  std::snprintf(buf, sizeof(buf), "-aigw%010llu", ++counter);
  return std::string(prefix) + buf;
}

inline long long now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The reply split into word chunks: "Hello", " from", " the", ...
inline std::vector<std::string> reply_chunks() {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < kReply.size()) {
    std::size_t next = kReply.find(' ', start + 1);
    if (next == std::string_view::npos) {
      next = kReply.size();
    }
    out.emplace_back(kReply.substr(start, next - start));
    start = next;
  }
  return out;
}

inline int completion_tokens() { return static_cast<int>(reply_chunks().size()); }

inline std::string usage_json(int prompt, int completion) {
  return "{\"prompt_tokens\":" + std::to_string(prompt) +
         ",\"completion_tokens\":" + std::to_string(completion) +
         ",\"total_tokens\":" + std::to_string(prompt + completion) + "}";
}

inline std::string sse_data(std::string_view payload) {
  return "data: " + std::string(payload) + "\n\n";
}

inline std::string chat_completion(const RequestInfo &info) {
  return "{\"id\":" + json_quote(next_id("chatcmpl")) +
         ",\"object\":\"chat.completion\",\"created\":" + std::to_string(now_unix()) +
         ",\"model\":" + json_quote(info.model) +
         ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" +
         json_quote(kReply) +
         ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":" +
         usage_json(info.prompt_tokens, completion_tokens()) + "}";
}

// SSE events (each "data: ...\n\n") of a streamed chat completion, ending with [DONE].
inline std::vector<std::string> chat_completion_stream(const RequestInfo &info) {
  const std::string head =
      "{\"id\":" + json_quote(next_id("chatcmpl")) +
      ",\"object\":\"chat.completion.chunk\",\"created\":" + std::to_string(now_unix()) +
      ",\"model\":" + json_quote(info.model) + ",\"choices\":";
  const auto choice = [](const std::string &delta, std::string_view finish) {
    return "[{\"index\":0,\"delta\":" + delta +
           ",\"logprobs\":null,\"finish_reason\":" + std::string(finish) + "}]";
  };
  std::vector<std::string> events;
  events.push_back(
      sse_data(head + choice("{\"role\":\"assistant\",\"content\":\"\"}", "null") + "}"));
  const auto &words = reply_chunks();
  const size_t n = info.chunks > 0 ? static_cast<size_t>(info.chunks) : words.size();
  for (size_t i = 0; i < n; ++i) {
    events.push_back(sse_data(
        head + choice("{\"content\":" + json_quote(words[i % words.size()]) + "}", "null") + "}"));
  }
  events.push_back(sse_data(head + choice("{}", "\"stop\"") + "}"));
  if (info.include_usage) {
    events.push_back(sse_data(
        head + "[],\"usage\":" + usage_json(info.prompt_tokens, static_cast<int>(n)) + "}"));
  }
  events.push_back(sse_data("[DONE]"));
  return events;
}

inline std::string text_completion(const RequestInfo &info) {
  return "{\"id\":" + json_quote(next_id("cmpl")) +
         ",\"object\":\"text_completion\",\"created\":" + std::to_string(now_unix()) +
         ",\"model\":" + json_quote(info.model) + ",\"choices\":[{\"text\":" + json_quote(kReply) +
         ",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":" +
         usage_json(info.prompt_tokens, completion_tokens()) + "}";
}

inline std::vector<std::string> text_completion_stream(const RequestInfo &info) {
  const std::string head =
      "{\"id\":" + json_quote(next_id("cmpl")) +
      ",\"object\":\"text_completion\",\"created\":" + std::to_string(now_unix()) +
      ",\"model\":" + json_quote(info.model) + ",\"choices\":";
  const auto choice = [](std::string_view text, std::string_view finish) {
    return "[{\"text\":" + json_quote(text) +
           ",\"index\":0,\"logprobs\":null,\"finish_reason\":" + std::string(finish) + "}]";
  };
  std::vector<std::string> events;
  for (const std::string &word : reply_chunks()) {
    events.push_back(sse_data(head + choice(word, "null") + "}"));
  }
  events.push_back(sse_data(head + choice("", "\"stop\"") + "}"));
  if (info.include_usage) {
    events.push_back(sse_data(
        head + "[],\"usage\":" + usage_json(info.prompt_tokens, completion_tokens()) + "}"));
  }
  events.push_back(sse_data("[DONE]"));
  return events;
}

// One embedding object per input, `info.dimensions` (default 8) deterministic floats each.
inline std::string embeddings(const RequestInfo &info) {
  std::string data;
  int total = 0;
  for (std::size_t i = 0; i < info.input_tokens.size(); ++i) {
    total += info.input_tokens[i];
    std::string floats;
    std::string raw;
    for (int k = 0; k < info.dimensions; ++k) {
      const int bucket = static_cast<int>((i * 31 + static_cast<std::size_t>(k) * 17) % 100);
      const float value = static_cast<float>(bucket - 50) / 100.0F;
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.2f", static_cast<double>(value));
      floats += (k == 0 ? "" : ",");
      floats += buf;
      char bytes[sizeof(float)];
      std::memcpy(bytes, &value, sizeof(float)); // little-endian hosts only, like the real API
      raw.append(bytes, sizeof(float));
    }
    data += (i == 0 ? "" : ",");
    data += "{\"object\":\"embedding\",\"index\":" + std::to_string(i) + ",\"embedding\":" +
            (info.base64_embeddings ? json_quote(base64_encode(raw)) : "[" + floats + "]") + "}";
  }
  total = std::max(1, total);
  return "{\"object\":\"list\",\"data\":[" + data + "],\"model\":" + json_quote(info.model) +
         ",\"usage\":{\"prompt_tokens\":" + std::to_string(total) +
         ",\"total_tokens\":" + std::to_string(total) + "}}";
}

// OpenAI-shaped error body; an empty `code` is rendered as null.
inline std::string openai_error(std::string_view message, std::string_view type,
                                std::string_view code) {
  return "{\"error\":{\"message\":" + json_quote(message) + ",\"type\":" + json_quote(type) +
         ",\"param\":null,\"code\":" + (code.empty() ? std::string("null") : json_quote(code)) +
         "}}";
}

// Upstream's x-fake-response bodies ("small", "medium", "large"); empty when unknown.
inline std::string fake_sized_response(std::string_view path, std::string_view size) {
  const int count = size == "small" ? 100 : size == "medium" ? 10000 : size == "large" ? 100000 : 0;
  if (count == 0) {
    return {};
  }
  const auto parts = [count](std::string_view prefix, char fill) {
    std::string out;
    for (int i = 0; i < 10; ++i) {
      out += (i == 0 ? "" : ", ");
      out += std::string(prefix) + std::string(static_cast<std::size_t>(count), fill) + "\"}";
    }
    return out;
  };
  if (path.ends_with("/chat/completions")) {
    std::string content;
    content.reserve(static_cast<std::size_t>(count) * 52);
    for (int i = 0; i < count; ++i) {
      content += "This is a line in the large fake response content. ";
    }
    return "{\n  \"id\": \"chatcmpl-CqSf2jfV03XXLdrL2CoreXibglhVU\",\n  \"object\": "
           "\"chat.completion\",\n  \"created\": 1766619264,\n  \"model\": "
           "\"gpt-4o-mini-2024-07-18\",\n  \"choices\": [\n    {\n      \"index\": 0,\n      "
           "\"message\": {\n        \"role\": \"assistant\",\n        \"content\": \"" +
           content +
           "\",\n        \"refusal\": null,\n        \"annotations\": []\n      },\n      "
           "\"logprobs\": null,\n      \"finish_reason\": \"stop\"\n    }\n  ],\n  \"usage\": {\n "
           "   \"prompt_tokens\": 13,\n    \"completion_tokens\": 12,\n    \"total_tokens\": 25\n "
           " },\n  \"service_tier\": \"default\",\n  \"system_fingerprint\": \"fp_8bbc38b4db\"\n}";
  }
  if (path == "/model/gpt-4/converse") {
    return "{\"output\": {\"message\": {\"content\": [" + parts("{\"text\": \"", 'A') +
           "], \"role\": \"assistant\"}}, \"stopReason\": \"end_turn\", \"usage\": "
           "{\"inputTokens\": 1, \"outputTokens\": 2, \"totalTokens\": 3}}";
  }
  if (path.ends_with("/publishers/google/models/gpt-4:generateContent")) {
    return "{\"candidates\": [{\"content\": {\"parts\": [" +
           parts("{\"type\": \"text\", \"text\": \"", 'B') +
           "], \"role\": \"model\"}, \"finishReason\": \"STOP\"}], \"usageMetadata\": "
           "{\"promptTokenCount\": 1, \"candidatesTokenCount\": 2, \"totalTokenCount\": 3}}";
  }
  if (path.ends_with("/publishers/anthropic/models/gpt-4:rawPredict")) {
    return "{\"id\": \"msg_benchmark\", \"type\": \"message\", \"role\": \"assistant\", "
           "\"stop_reason\": \"end_turn\", \"content\": [" +
           parts("{\"type\": \"text\", \"text\": \"", 'C') +
           "], \"usage\": {\"input_tokens\": 1, \"output_tokens\": 2}}";
  }
  return {};
}

} // namespace canned
} // namespace testupstream
