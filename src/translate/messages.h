// The Anthropic Messages API as clients send it (/anthropic/v1/messages and its count_tokens) to
// the backends that speak it natively: Anthropic (passthrough), Claude on Vertex (rawPredict,
// `anthropic_version` in the body) and Claude on Bedrock (InvokeModel, its event stream turned
// back into Anthropic's SSE); and translated, through the canonical representation, for OpenAI
// chat completions (OpenAI, Azure OpenAI) and Bedrock Converse backends (messages_chat.cc).
// Errors keep Anthropic's shape (reference §3.3).
#pragma once

#include "translate/translator.h"

#include <memory>
#include <string>

namespace aigw::translate {

std::unique_ptr<Translator> make_messages_translator(Schema schema, pipeline::Endpoint endpoint);

// Messages to OpenAI chat completions (OpenAI and compatible servers, Azure OpenAI) and to
// Bedrock Converse: the request translated, the answer, its stream and its errors back into
// Anthropic's shapes.
std::unique_ptr<Translator> make_messages_chat_translator(Schema schema);

// Anthropic's error type for an HTTP status, as upstream maps it.
std::string_view anthropic_error_type(int status);

// {"type":"error","error":{"type":T,"message":M}} with T by status as upstream maps it
// (invalid_request_error, authentication_error, ..., overloaded_error).
std::string anthropic_error_json(int status, std::string_view message);

} // namespace aigw::translate
