// POST /tokenize (vLLM's shape: a chat `messages` or a completion `prompt` request) to the
// count-tokens APIs of Vertex Gemini, Claude on Vertex, Claude on Bedrock and Bedrock Converse,
// answered as vLLM answers: {"count":N,"max_model_len":0,"tokens":null} (reference §3.1).
#pragma once

#include "translate/translator.h"

#include <memory>

namespace aigw::translate {

std::unique_ptr<Translator> make_tokenize_translator(Schema schema);

} // namespace aigw::translate
