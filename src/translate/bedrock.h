// The AWS Bedrock Converse API as a provider: encoding a canonical request, decoding answers,
// stream events (AWS event stream frames) and errors.
// Thread-safety: functions are pure; a stream decoder belongs to one response.
#pragma once

#include "core/result.h"
#include "providers/aws_eventstream.h"
#include "translate/chat.h"

#include <string>
#include <string_view>
#include <vector>

namespace aigw::translate {

Result<std::string> encode_converse_request(const ChatRequest &r);
Result<ChatResponse> decode_converse_response(std::string_view body, std::string_view model);
std::string_view bedrock_finish_reason(std::string_view stop_reason);

// Decodes converse-stream bytes. A framing error (bad CRC, oversize) becomes one kError event
// and ends the stream.
class ConverseStreamDecoder {
public:
  void feed(std::string_view bytes, std::vector<StreamEvent> &out);
  bool failed() const { return failed_; }

private:
  void on_message(const providers::EventMessage &m, std::vector<StreamEvent> &out);

  providers::EventStreamDecoder decoder_;
  std::vector<std::pair<int, int>> tool_blocks_; // contentBlockIndex → tool call index
  int tools_ = 0;
  int current_tool_ = -1; // the call whose block started last
  bool failed_ = false;
};

// Bedrock error body (JSON {"message"} with the x-amzn-errortype header) → OpenAI error body.
std::string bedrock_error_to_openai(int status, std::string_view amzn_error_type,
                                    std::string_view body);

} // namespace aigw::translate
