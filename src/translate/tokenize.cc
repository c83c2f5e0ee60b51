// Tokenize translations; see tokenize.h.
#include "translate/tokenize.h"

#include "core/base64.h"
#include "core/json_scan.h"
#include "translate/anthropic.h"
#include "translate/bedrock.h"
#include "translate/gemini.h"
#include "translate/json_in.h"
#include "translate/json_out.h"
#include "translate/openai_chat.h"

#include <simdjson.h>

#include <initializer_list>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;

// The members `keys` of the JSON object `json`, in that order, as a new object's members
// (without braces); absent keys are skipped.
std::string pick(std::string_view json, std::initializer_list<std::string_view> keys) {
  dom::parser parser;
  dom::element doc;
  std::string out;
  if (parser.parse(json).get(doc) || !doc.is_object()) return out;
  for (auto k : keys) {
    dom::element v;
    if (doc[k].get(v)) continue;
    if (!out.empty()) out += ',';
    json::append_quoted(out, k);
    out += ':';
    out += simdjson::minify(v);
  }
  return out;
}

class TokenizeTranslator : public Translator {
public:
  explicit TokenizeTranslator(Schema s) : schema_(s) {}

  Result<UpstreamRequest> request(const TranslateInput &in) override {
    auto req = chat_request(in.body);
    if (!req) return req.error();
    req->model = std::string(in.model);
    model_ = req->model;
    UpstreamRequest u;
    std::string body;
    switch (schema_) {
    case Schema::kGCPVertexAI: {
      u.path = "publishers/google/models/" + path_escape(model_) + ":countTokens";
      auto g = encode_gemini_request(*req);
      if (!g) return g.error();
      body = "{" + pick(*g, {"contents", "systemInstruction", "tools"}) + "}";
      break;
    }
    case Schema::kAWSBedrock: {
      u.path = "/model/" + path_escape(strip_cris_prefix(model_)) + "/count-tokens";
      auto c = encode_converse_request(*req);
      if (!c) return c.error();
      body = "{\"input\":{\"converse\":{" + pick(*c, {"messages", "system", "toolConfig"}) + "}}}";
      break;
    }
    case Schema::kAWSAnthropic: {
      std::string_view m = model_;
      if (auto i = m.find("anthropic."); i != std::string_view::npos && i > 0) m.remove_prefix(i);
      u.path = "/model/" + path_escape(m) + "/count-tokens";
      auto a = anthropic_body(*req);
      if (!a) return a.error();
      std::string inner =
          "{" + pick(*a, {"messages", "system", "tools"}) + ",\"anthropic_version\":";
      json::append_quoted(inner, in.version.empty() ? "bedrock-2023-05-31" : in.version);
      inner += ",\"max_tokens\":1}";
      body = "{\"input\":{\"invokeModel\":{\"body\":";
      json::append_quoted(body, base64_encode(inner));
      body += "}}}";
      break;
    }
    case Schema::kGCPAnthropic: {
      u.path = "publishers/anthropic/models/count-tokens:rawPredict";
      std::string m = model_;
      for (std::string_view suffix : {"@default", "@latest"})
        if (std::string_view(m).ends_with(suffix)) m.resize(m.size() - suffix.size());
      auto a = anthropic_body(*req);
      if (!a) return a.error();
      body = "{" + pick(*a, {"messages"}) + ",\"model\":";
      json::append_quoted(body, m);
      if (auto rest = pick(*a, {"system", "tools"}); !rest.empty()) body += "," + rest;
      body += ",\"anthropic_version\":";
      json::append_quoted(body, in.version.empty() ? "vertex-2023-10-16" : in.version);
      body += '}';
      break;
    }
    default: return Error::client(422, "/tokenize is not served for this schema");
    }
    u.body = std::move(body);
    return u;
  }

  bool rewrites_response() const override { return true; }

  Result<std::string> response_body(std::string_view body) override {
    dom::parser parser;
    dom::element doc;
    if (parser.parse(body).get(doc) || !doc.is_object())
      return Error::upstream(502, "the count-tokens response is not valid JSON", false);
    uint64_t n = 0;
    switch (schema_) {
    case Schema::kGCPVertexAI: n = u64_of(doc["totalTokens"]); break;
    case Schema::kGCPAnthropic: n = u64_of(doc["input_tokens"]); break;
    default: n = u64_of(doc["inputTokens"]); break;
    }
    response_model_ = model_;
    return "{\"count\":" + std::to_string(n) + ",\"max_model_len\":0,\"tokens\":null}";
  }

  std::pair<std::string, std::string> error_body(int status, std::string_view,
                                                 std::string_view amzn_error_type,
                                                 std::string_view body) override {
    switch (schema_) {
    case Schema::kGCPVertexAI: return {gemini_error_to_openai(status, body), "application/json"};
    case Schema::kGCPAnthropic:
      return {anthropic_error_to_openai(status, body), "application/json"};
    default: return {bedrock_error_to_openai(status, amzn_error_type, body), "application/json"};
    }
  }

private:
  // A chat request as is; a completion request as one user message holding its prompt.
  static Result<ChatRequest> chat_request(std::string_view body) {
    dom::parser parser;
    dom::element doc;
    if (parser.parse(body).get(doc) || !doc.is_object())
      return Error::client(400, "malformed request: failed to parse JSON for /tokenize");
    dom::element messages, prompt;
    bool has_messages = !doc["messages"].get(messages);
    bool has_prompt = !doc["prompt"].get(prompt);
    if (has_messages && has_prompt)
      return Error::client(
          400, "invalid tokenize request: tokenize request must have either 'prompt' or "
               "'messages', not both");
    if (str_of(doc["model"]).empty())
      return Error::client(400, "invalid tokenize request: model is required");
    if (has_messages) return decode_openai_chat_request(body);
    std::string chat = "{\"messages\":[{\"role\":\"user\",\"content\":";
    if (has_prompt && prompt.is_string())
      json::append_quoted(chat, str_of(prompt));
    else
      chat += "\"\"";
    chat += "}]}";
    return decode_openai_chat_request(chat);
  }

  static std::string strip_cris_prefix(std::string_view m) {
    for (std::string_view p : {"us-gov.", "us.", "eu.", "apac.", "uk.", "au.", "jp.", "global."})
      if (m.starts_with(p)) return std::string(m.substr(p.size()));
    return std::string(m);
  }

  static Result<std::string> anthropic_body(const ChatRequest &r) {
    AnthropicRequestOptions o;
    o.include_model = false;
    o.stream_field = false;
    return encode_anthropic_request(r, o);
  }

  Schema schema_;
  std::string model_;
};

} // namespace

std::unique_ptr<Translator> make_tokenize_translator(Schema schema) {
  return std::make_unique<TokenizeTranslator>(schema);
}

} // namespace aigw::translate
