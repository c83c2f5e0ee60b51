// Messages to the Claude-native backends; see messages.h.
#include "translate/messages.h"

#include "core/base64.h"
#include "core/json_scan.h"
#include "core/strings.h"
#include "pipeline/errors.h"
#include "pipeline/request_body.h"
#include "pipeline/usage.h"
#include "providers/aws_eventstream.h"
#include "translate/json_in.h"

#include <algorithm>
#include <iterator>

#include <simdjson.h>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;
using pipeline::Endpoint;

// The body without `remove`, with anthropic_version set (a JSON string) and, when given,
// anthropic_beta (a JSON array).
std::string edited(std::string_view body, std::string_view version,
                   const std::vector<std::string> &remove, std::string betas = {}) {
  std::vector<std::pair<std::string, std::string>> set;
  if (!version.empty()) set.emplace_back("anthropic_version", json::quoted(version));
  if (!betas.empty()) set.emplace_back("anthropic_beta", std::move(betas));
  return pipeline::apply_body_mutation(body, set, remove);
}

// The anthropic-beta flags Bedrock accepts in `anthropic_beta`: it refuses a whole request with
// one flag it does not know, so the others are dropped (as upstream's allow-list).
constexpr std::string_view kBedrockBetas[] = {
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "dev-full-thinking-2025-05-14",
    "fine-grained-tool-streaming-2025-05-14",
    "interleaved-thinking-2025-05-14",
    "mcp-client-2025-04-04",
    "mcp-client-2025-11-20",
    "model-context-window-exceeded-2025-08-26",
    "output-128k-2025-02-19",
    "pdfs-2024-09-25",
    "search-results-2025-06-09",
    "token-counting-2024-11-01",
    "token-efficient-tools-2025-02-19",
    "tool-search-tool-2025-10-19",
    "web-search-2025-03-05",
};

// The client's comma-separated anthropic-beta flags as Bedrock's JSON array: Anthropic-API names
// mapped to Bedrock's (advanced-tool-use is Bedrock's tool-search-tool), then the allow-list,
// each flag once. Empty when none is left.
std::string bedrock_betas(std::string_view header) {
  std::vector<std::string_view> kept;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view flag = trim_ows(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (flag == "advanced-tool-use-2025-11-20") flag = "tool-search-tool-2025-10-19";
    if (std::find(std::begin(kBedrockBetas), std::end(kBedrockBetas), flag) ==
            std::end(kBedrockBetas) ||
        std::find(kept.begin(), kept.end(), flag) != kept.end())
      continue;
    kept.push_back(flag);
  }
  if (kept.empty()) return {};
  std::string out = "[";
  for (auto flag : kept) {
    if (out.size() > 1) out += ',';
    json::append_quoted(out, flag);
  }
  return out + "]";
}

class MessagesTranslator : public Translator {
public:
  MessagesTranslator(Schema s, Endpoint e) : schema_(s), endpoint_(e) {}

  Result<UpstreamRequest> request(const TranslateInput &in) override {
    model_ = std::string(in.model);
    stream_ = in.parsed && in.parsed->stream;
    bool count = endpoint_ == Endpoint::kMessagesCountTokens;
    UpstreamRequest u;
    switch (schema_) {
    case Schema::kAnthropic:
      u.path = std::string(in.path_prefix) + std::string(pipeline::upstream_suffix(endpoint_));
      u.body = pipeline::encode_request_body(in.body, in.model_override, false);
      break;
    case Schema::kGCPAnthropic: {
      std::string version(in.version.empty() ? "vertex-2023-10-16" : in.version);
      if (count) {
        // The model stays in the body, without a @default or @latest version alias.
        std::string m = model_;
        for (std::string_view suffix : {"@default", "@latest"})
          if (std::string_view(m).ends_with(suffix)) m.resize(m.size() - suffix.size());
        u.path = "publishers/anthropic/models/count-tokens:rawPredict";
        auto with_model = pipeline::encode_request_body(in.body, m, false);
        u.body = edited(with_model ? *with_model : std::string(in.body), version, {});
      } else {
        u.path = "publishers/anthropic/models/" + path_escape(model_) +
                 (stream_ ? ":streamRawPredict" : ":rawPredict");
        u.body = edited(in.body, version, {"model"});
      }
      break;
    }
    case Schema::kAWSAnthropic:
    case Schema::kAWSBedrock: {
      std::string version(
          in.version.empty() || schema_ == Schema::kAWSBedrock ? "bedrock-2023-05-31" : in.version);
      if (count) {
        // Bedrock counts with the base model id (cross-region prefixes such as "us." dropped).
        std::string_view m = model_;
        if (auto i = m.find("anthropic."); i != std::string_view::npos && i > 0) m.remove_prefix(i);
        u.path = "/model/" + path_escape(m) + "/count-tokens";
        // As upstream: anthropic_version set, model and stream removed, max_tokens 1 when absent.
        std::string inner = edited(in.body, version, {"model", "stream"});
        if (auto spans = json::scan_object(inner); spans && !spans->find("max_tokens"))
          inner = pipeline::apply_body_mutation(inner, {{"max_tokens", "1"}}, {});
        std::string body = "{\"input\":{\"invokeModel\":{\"body\":";
        json::append_quoted(body, base64_encode(inner));
        body += "}}}";
        u.body = std::move(body);
      } else {
        u.path = "/model/" + path_escape(model_) +
                 (stream_ ? "/invoke-with-response-stream" : "/invoke");
        u.body = edited(in.body, version, {"model", "stream"},
                        schema_ == Schema::kAWSAnthropic ? bedrock_betas(in.anthropic_beta) : "");
      }
      break;
    }
    default: return Error::client(422, "this backend does not serve the Messages API");
    }
    return u;
  }

  // Bedrock's answers are rewritten: the event stream back into Anthropic's SSE, a count back
  // into Anthropic's shape. The others are Anthropic's own bytes.
  bool rewrites_response() const override {
    bool aws = schema_ == Schema::kAWSAnthropic || schema_ == Schema::kAWSBedrock;
    return aws && (stream_ || endpoint_ == Endpoint::kMessagesCountTokens);
  }

  Result<std::string> response_body(std::string_view body) override {
    // Bedrock's count_tokens: {"inputTokens": N} → {"input_tokens": N}.
    dom::parser parser;
    dom::element doc;
    if (parser.parse(body).get(doc) || !doc.is_object())
      return Error::upstream(502, "the count-tokens response is not valid JSON", false);
    uint64_t n = u64_of(doc["inputTokens"]);
    usage_.input = n;
    response_model_ = model_;
    return "{\"input_tokens\":" + std::to_string(n) + "}";
  }

  void stream_chunk(std::string_view in, std::string &out) override {
    if (failed_) return;
    size_t before = out.size();
    frames_.feed(in);
    for (;;) {
      auto m = frames_.next();
      if (!m) {
        failed_ = true;
        event(out, "error",
              anthropic_error_json(502, "malformed event stream from AWS Bedrock: " +
                                            m.error().message));
        break;
      }
      if (!m->has_value()) break;
      const auto &msg = **m;
      if (msg.header(":message-type") == "exception") {
        failed_ = true;
        dom::parser parser;
        dom::element doc;
        std::string text =
            !parser.parse(msg.payload).get(doc) ? std::string(str_of(doc["message"])) : msg.payload;
        std::string_view kind = msg.header(":exception-type");
        int status = kind == "throttlingException"           ? 429
                     : kind == "serviceUnavailableException" ? 503
                     : kind == "validationException"         ? 400
                                                             : 500;
        event(out, "error", anthropic_error_json(status, text));
        break;
      }
      dom::parser parser;
      dom::element doc;
      if (parser.parse(msg.payload).get(doc)) continue;
      auto bytes = base64_decode(str_of(doc["bytes"]));
      if (!bytes) continue;
      dom::parser inner;
      dom::element ev;
      if (inner.parse(*bytes).get(ev)) continue;
      event(out, str_of(ev["type"]), *bytes);
    }
    usage_scan(std::string_view(out).substr(before));
  }

  std::string_view response_content_type(bool streaming) const override {
    return streaming ? "text/event-stream" : "application/json";
  }

  std::pair<std::string, std::string> error_body(int status, std::string_view content_type,
                                                 std::string_view amzn_error_type,
                                                 std::string_view body) override {
    dom::parser parser;
    dom::element doc;
    bool json = !parser.parse(body).get(doc) && doc.is_object();
    // Anthropic's own errors (Anthropic, Vertex) pass as they are.
    if (json && str_of(doc["type"]) == "error") return {std::string(body), "application/json"};
    // Bedrock's {"message": …} (and anything else): Anthropic's envelope, typed by status.
    std::string message(json ? str_of(doc["message"]) : std::string_view());
    if (message.empty()) message = std::string(body);
    (void)content_type;
    (void)amzn_error_type;
    return {anthropic_error_json(status, message), "application/json"};
  }

  const TokenUsage &usage() const override { return scanner_usage_ ? *scanner_usage_ : usage_; }

private:
  static void event(std::string &out, std::string_view type, std::string_view data) {
    out += "event: ";
    out += type;
    out += "\ndata: ";
    out += data;
    out += "\n\n";
  }
  void usage_scan(std::string_view produced) {
    scanner_.set_anthropic(true);
    scanner_.feed(produced);
    scanner_usage_ = scanner_.usage();
    if (!scanner_.model().empty()) response_model_ = scanner_.model();
    if (response_model_.empty()) response_model_ = model_;
  }

  Schema schema_;
  Endpoint endpoint_;
  std::string model_;
  bool stream_ = false;
  bool failed_ = false;
  providers::EventStreamDecoder frames_;
  pipeline::SseUsageScanner scanner_;
  std::optional<TokenUsage> scanner_usage_;
};

} // namespace

std::string_view anthropic_error_type(int status) {
  switch (status) {
  case 400: return "invalid_request_error";
  case 401: return "authentication_error";
  case 403: return "permission_error";
  case 404: return "not_found_error";
  case 413: return "request_too_large";
  case 429: return "rate_limit_error";
  case 503: return "service_unavailable_error";
  case 529: return "overloaded_error";
  default: return "internal_server_error";
  }
}

std::string anthropic_error_json(int status, std::string_view message) {
  std::string o = "{\"type\":\"error\",\"error\":{\"type\":\"";
  o += anthropic_error_type(status);
  o += "\",\"message\":";
  json::append_quoted(o, message);
  o += "}}";
  return o;
}

std::unique_ptr<Translator> make_messages_translator(Schema schema, Endpoint endpoint) {
  if (endpoint == Endpoint::kMessages &&
      (schema == Schema::kOpenAI || schema == Schema::kAzureOpenAI ||
       schema == Schema::kAWSBedrock))
    return make_messages_chat_translator(schema);
  return std::make_unique<MessagesTranslator>(schema, endpoint);
}

} // namespace aigw::translate
