// Messages to the backends that do not speak it: OpenAI chat completions (OpenAI and compatible
// servers, Azure OpenAI) and Bedrock Converse; see messages.h. Through the canonical
// representation: the Anthropic request decoded (anthropic_messages.h), encoded in the
// provider's format, and its answer, stream and errors decoded and written as Anthropic's.
#include "translate/anthropic_messages.h"
#include "translate/bedrock.h"
#include "translate/json_in.h"
#include "translate/messages.h"
#include "translate/openai_chat.h"

#include <simdjson.h>

namespace aigw::translate {
namespace {

namespace dom = simdjson::dom;

// Bedrock's stopReason in Anthropic's vocabulary, as upstream maps it (a content filter is an
// end_turn, "best effort").
std::string bedrock_stop_reason(std::string_view s) {
  if (s == "max_tokens" || s == "stop_sequence" || s == "tool_use") return std::string(s);
  return "end_turn";
}

// A Bedrock event stream exception's type as the status Anthropic's error type goes by.
int bedrock_exception_status(std::string_view type) {
  if (type == "throttlingException") return 429;
  if (type == "serviceUnavailableException") return 503;
  if (type == "validationException") return 400;
  if (type == "modelStreamErrorException" || type == "internalServerException") return 500;
  return 502;
}

class MessagesThroughChatTranslator : public Translator {
public:
  explicit MessagesThroughChatTranslator(Schema s) : schema_(s) {}

  Result<UpstreamRequest> request(const TranslateInput &in) override {
    auto req = decode_anthropic_messages_request(in.body);
    if (!req) return req.error();
    req->model = std::string(in.model);
    model_ = std::string(in.model);
    // Re-created on every attempt: a retry starts a fresh stream.
    chunks_ = ChunkDecoder();
    converse_ = ConverseStreamDecoder();
    encoder_.emplace(model_);
    UpstreamRequest u;
    switch (schema_) {
    case Schema::kAWSBedrock: {
      u.path = "/model/" + path_escape(in.model) + (req->stream ? "/converse-stream" : "/converse");
      auto body = encode_converse_request(*req);
      if (!body) return body.error();
      u.body = std::move(*body);
      break;
    }
    case Schema::kAzureOpenAI:
      u.path = "/openai/deployments/" + path_escape(in.model) +
               "/chat/completions?api-version=" + std::string(in.version);
      u.body = encode_openai_chat_request(*req);
      break;
    default:
      u.path = std::string(in.path_prefix) + "/chat/completions";
      u.body = encode_openai_chat_request(*req);
      break;
    }
    return u;
  }

  void set_provider_request_id(std::string_view id) override { request_id_ = std::string(id); }
  bool rewrites_response() const override { return true; }

  Result<std::string> response_body(std::string_view body) override {
    Result<ChatResponse> r = bedrock() ? decode_converse_response(body, model_)
                                       : decode_openai_chat_response(body, model_);
    if (!r) return r.error();
    if (bedrock()) {
      // As upstream: Bedrock's request id, the request's model, Bedrock's own stop reason.
      r->id = request_id_;
      r->finish_reason = r->stop_reason.empty() ? "" : bedrock_stop_reason(r->stop_reason);
    }
    usage_ = r->usage;
    response_model_ = r->model;
    return encode_anthropic_message(*r);
  }

  void stream_chunk(std::string_view in, std::string &out) override {
    events_.clear();
    if (bedrock())
      converse_.feed(in, events_);
    else
      chunks_.feed(in, events_);
    emit(out);
  }

  void stream_end(std::string &out) override {
    events_.clear();
    if (!bedrock()) chunks_.finish(events_);
    emit(out);
    encoder_->finish(out);
    usage_ = encoder_->usage();
  }

  std::pair<std::string, std::string> error_body(int status, std::string_view content_type,
                                                 std::string_view, std::string_view body) override {
    if (!bedrock())
      return {openai_error_to_anthropic(status, content_type, body), "application/json"};
    // Bedrock's {"message": ...}, typed by status (upstream's); anything else is the message.
    thread_local dom::parser parser;
    dom::element doc;
    std::string_view message = body;
    if (!parser.parse(body.data(), body.size()).get(doc) && doc.is_object()) {
      std::string_view m = str_of(doc["message"]);
      if (m.empty()) m = str_of(doc["Message"]);
      if (!m.empty()) message = m;
    }
    return {anthropic_error_envelope(anthropic_error_type(status), message), "application/json"};
  }

private:
  bool bedrock() const { return schema_ == Schema::kAWSBedrock; }

  void emit(std::string &out) {
    for (auto &e : events_) {
      if (bedrock()) {
        if (e.kind == StreamEvent::Kind::kStart) e.id = request_id_;
        if (e.kind == StreamEvent::Kind::kFinish) e.text = bedrock_stop_reason(e.name);
        if (e.kind == StreamEvent::Kind::kError)
          e.error_type = std::string(anthropic_error_type(bedrock_exception_status(e.error_type)));
      }
      encoder_->on_event(e, out);
    }
    usage_ = encoder_->usage();
    response_model_ = bedrock() ? model_ : encoder_->model();
  }

  Schema schema_;
  std::string model_;
  std::string request_id_;
  ChunkDecoder chunks_;
  ConverseStreamDecoder converse_;
  std::optional<AnthropicSseEncoder> encoder_;
  std::vector<StreamEvent> events_;
};

} // namespace

std::unique_ptr<Translator> make_messages_chat_translator(Schema schema) {
  return std::make_unique<MessagesThroughChatTranslator>(schema);
}

} // namespace aigw::translate
