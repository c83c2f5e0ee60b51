// Fuzz target: the provider stream decoders (Bedrock converse-stream frames, Anthropic SSE,
// Gemini SSE) feeding the OpenAI chunk encoder, on arbitrary chunkings of arbitrary bytes. The
// first byte picks the decoder and the chunk size. Every output must be bounded and the encoder
// must always end the stream.
#include "translate/anthropic.h"
#include "translate/bedrock.h"
#include "translate/gemini.h"
#include "translate/openai_chat.h"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace aigw::translate;
  if (size == 0) return 0;
  int which = data[0] % 3;
  size_t step = 1 + (data[0] >> 2) % 64;
  std::string_view in(reinterpret_cast<const char *>(data) + 1, size - 1);
  ConverseStreamDecoder converse;
  AnthropicStreamDecoder anthropic;
  GeminiStreamDecoder gemini;
  ChunkEncoder enc("id", "model", 1, true);
  std::string out;
  for (size_t i = 0; i < in.size(); i += step) {
    std::vector<StreamEvent> ev;
    auto piece = in.substr(i, step);
    if (which == 0)
      converse.feed(piece, ev);
    else if (which == 1)
      anthropic.feed_sse(piece, ev);
    else
      gemini.feed(piece, ev);
    for (const auto &e : ev)
      enc.on_event(e, out);
  }
  if (which == 2) {
    std::vector<StreamEvent> ev;
    gemini.feed("", ev);
    for (const auto &e : ev)
      enc.on_event(e, out);
  }
  enc.finish(out);
  if (!enc.finished()) std::abort();
  return 0;
}
