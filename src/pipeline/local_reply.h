// Every answer the gateway writes itself, in one place: the bodies, statuses and extra headers of
// local replies (400/404/405/413/422/429/500/501/502/503/504, /v1/models), as upstream writes
// them. Hosts only serialise a LocalReply (an HTTP response, or an ext_proc ImmediateResponse).
#pragma once

#include "control/snapshot.h"
#include "ratelimit/limiter.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::pipeline {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct LocalReply {
  int status = 0;
  std::string content_type;
  std::string body;
  HeaderList headers; // beside content-type and content-length (allow, x-ratelimit-*, ...)
};

// {"type":"error","error":{"type":<upstream's type for the status>,"code":…,"message":…}}.
LocalReply error_reply(int status, std::string_view message, HeaderList headers = {});
// An error with an explicit upstream type (OpenAIBackendError, BadGateway, ...).
LocalReply typed_error_reply(std::string_view type, int status, std::string_view message,
                             HeaderList headers = {});
// 404 text/plain "unsupported path: …", as upstream answers a path it does not serve.
LocalReply unsupported_path(std::string_view target);
// 405 with `allow`, for a known path and the wrong method.
LocalReply method_not_allowed(std::string_view method, std::string_view path, bool get_only);
// 404 in the OpenAI shape (code model_not_found): no route matched.
LocalReply route_not_found();
// The same under /anthropic, in Anthropic's error shape (type not_found_error).
LocalReply anthropic_route_not_found();

// A client that failed authentication (SecurityPolicy): 401 in the client's schema, so its SDK
// raises its authentication error. OpenAI: {"error":{"message":M,"type":"invalid_request_error",
// "param":null,"code":"invalid_api_key"}}; Anthropic: {"type":"error","error":{"type":
// "authentication_error","message":M}}. `www_authenticate`: the challenge ("" : none).
LocalReply unauthorized(bool anthropic, std::string_view message,
                        std::string_view www_authenticate);
// GET /v1/models: the configuration's models, scoped by host.
LocalReply models_reply(const control::Snapshot &snap, std::string_view host);
// GET /anthropic/v1/models, in Anthropic's ModelList shape.
LocalReply anthropic_models_reply(const control::Snapshot &snap, std::string_view host);
// GET /v1/models/{id}: the model, or 404 in OpenAI's shape (code model_not_found).
LocalReply model_reply(const control::Snapshot &snap, std::string_view host,
                       std::string_view encoded_id);
// x-ratelimit-limit/-remaining/-reset for a verdict (none when no limit applied).
HeaderList ratelimit_headers(const ratelimit::Verdict &v);
// 429 for an exhausted budget or quota, with x-ratelimit-* and retry-after.
// A virtual key's budget is spent: 429 in the client's schema (OpenAI: type and code
// insufficient_quota; Anthropic: rate_limit_error) with the x-ratelimit-* of `v` and `extra`.
LocalReply budget_exceeded(bool anthropic, const ratelimit::Verdict &v, std::string_view message,
                           HeaderList extra);
// A virtual key may not use this model: 403 (OpenAI code model_not_allowed; Anthropic
// permission_error).
LocalReply model_not_allowed(bool anthropic, std::string_view message);
LocalReply rate_limited(const ratelimit::Verdict &v, std::string_view what);

} // namespace aigw::pipeline
