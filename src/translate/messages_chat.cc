// Messages to OpenAI chat completions (OpenAI and compatible servers, Azure OpenAI); see
// messages.h. Through the canonical representation: the Anthropic request decoded
// (anthropic_messages.h), encoded as a chat request (openai_chat.h), and the answer back.
#include "translate/anthropic_messages.h"
#include "translate/messages.h"
#include "translate/openai_chat.h"

namespace aigw::translate {
namespace {

class MessagesToChatTranslator : public Translator {
public:
  explicit MessagesToChatTranslator(Schema s) : schema_(s) {}

  Result<UpstreamRequest> request(const TranslateInput &in) override {
    auto req = decode_anthropic_messages_request(in.body);
    if (!req) return req.error();
    req->model = std::string(in.model);
    model_ = std::string(in.model);
    // Re-created on every attempt: a retry starts a fresh stream.
    decoder_ = ChunkDecoder();
    encoder_.emplace(model_);
    UpstreamRequest u;
    if (schema_ == Schema::kAzureOpenAI)
      u.path = "/openai/deployments/" + path_escape(in.model) +
               "/chat/completions?api-version=" + std::string(in.version);
    else
      u.path = std::string(in.path_prefix) + "/chat/completions";
    u.body = encode_openai_chat_request(*req);
    return u;
  }

  bool rewrites_response() const override { return true; }

  Result<std::string> response_body(std::string_view body) override {
    auto r = decode_openai_chat_response(body, model_);
    if (!r) return r.error();
    usage_ = r->usage;
    response_model_ = r->model;
    return encode_anthropic_message(*r);
  }

  void stream_chunk(std::string_view in, std::string &out) override {
    events_.clear();
    decoder_.feed(in, events_);
    emit(out);
  }

  void stream_end(std::string &out) override {
    events_.clear();
    decoder_.finish(events_);
    emit(out);
    encoder_->finish(out);
    usage_ = encoder_->usage();
  }

  std::pair<std::string, std::string> error_body(int status, std::string_view content_type,
                                                 std::string_view, std::string_view body) override {
    return {openai_error_to_anthropic(status, content_type, body), "application/json"};
  }

private:
  void emit(std::string &out) {
    for (const auto &e : events_)
      encoder_->on_event(e, out);
    usage_ = encoder_->usage();
    response_model_ = encoder_->model();
  }

  Schema schema_;
  std::string model_;
  ChunkDecoder decoder_;
  std::optional<AnthropicSseEncoder> encoder_;
  std::vector<StreamEvent> events_;
};

} // namespace

std::unique_ptr<Translator> make_messages_chat_translator(Schema schema) {
  return std::make_unique<MessagesToChatTranslator>(schema);
}

} // namespace aigw::translate
