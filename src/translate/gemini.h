// Google Gemini (Vertex AI generateContent) as a provider: encoding a canonical request,
// decoding answers, SSE stream chunks and errors.
// Thread-safety: functions are pure; a stream decoder belongs to one response.
#pragma once

#include "core/result.h"
#include "core/sse.h"
#include "translate/chat.h"

#include <string>
#include <string_view>
#include <vector>

namespace aigw::translate {

Result<std::string> encode_gemini_request(const ChatRequest &r);
Result<ChatResponse> decode_gemini_response(std::string_view body, std::string_view model);
std::string_view gemini_finish_reason(std::string_view reason);

// Gemini's SSE: `data: <GenerateContentResponse>` events separated by \r\n\r\n, \n\n or \r\r.
class GeminiStreamDecoder {
public:
  void feed(std::string_view bytes, std::vector<StreamEvent> &out);

private:
  void on_data(std::string_view json, std::vector<StreamEvent> &out);

  sse::LineSplitter lines_{8 * 1024 * 1024};
  std::string data_;
  bool started_ = false;
  bool saw_tool_call_ = false;
  int tools_ = 0;
};

// Vertex error body ({"error":{"code","message","status"}}) → OpenAI error body.
std::string gemini_error_to_openai(int status, std::string_view body);

} // namespace aigw::translate
