// Fuzz target: the Anthropic Messages translations for backends that do not speak it. The first
// byte picks what the rest is and how it is chunked: an OpenAI chunk stream or a Bedrock
// converse-stream fed to the Anthropic SSE encoder (every `data:` it writes must be JSON, and the
// stream must end in message_stop or an error event), an Anthropic request re-encoded for OpenAI
// and Converse, or a chat.completion answer as an Anthropic message (JSON either way).
#include "translate/anthropic_messages.h"
#include "translate/bedrock.h"
#include "translate/openai_chat.h"

#include <simdjson.h>

#include <cstdint>
#include <cstdlib>

namespace {

void must_be_json(std::string_view s) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (parser.parse(s.data(), s.size()).get(e)) std::abort();
}

void check_sse(std::string_view out) {
  if (!out.ends_with("\n\n")) std::abort();
  bool ended = out.ends_with("data: {\"type\":\"message_stop\"}\n\n") ||
               out.rfind("event: error\n") != std::string_view::npos;
  if (!ended) std::abort();
  for (size_t at = 0; (at = out.find("\ndata: ", at)) != std::string_view::npos;) {
    size_t end = out.find('\n', at + 7);
    must_be_json(out.substr(at + 7, end - at - 7));
    at = end;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace aigw::translate;
  if (size == 0) return 0;
  int which = data[0] % 4;
  size_t step = 1 + (data[0] >> 2) % 64;
  std::string_view in(reinterpret_cast<const char *>(data) + 1, size - 1);
  if (which == 2) {
    auto r = decode_anthropic_messages_request(in);
    if (r) {
      must_be_json(encode_openai_chat_request(*r));
      if (auto c = encode_converse_request(*r)) must_be_json(*c);
    }
    return 0;
  }
  if (which == 3) {
    if (auto r = decode_openai_chat_response(in, "model"))
      must_be_json(encode_anthropic_message(*r));
    return 0;
  }
  ChunkDecoder chunks;
  ConverseStreamDecoder converse;
  AnthropicSseEncoder enc("model");
  std::string out;
  std::vector<StreamEvent> ev;
  for (size_t i = 0; i < in.size(); i += step) {
    ev.clear();
    if (which == 0)
      chunks.feed(in.substr(i, step), ev);
    else
      converse.feed(in.substr(i, step), ev);
    for (const auto &e : ev)
      enc.on_event(e, out);
  }
  ev.clear();
  if (which == 0) chunks.finish(ev);
  for (const auto &e : ev)
    enc.on_event(e, out);
  enc.finish(out);
  check_sse(out);
  return 0;
}
