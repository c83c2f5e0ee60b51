// Error bodies exactly as upstream writes them (reference §3.3, §8.4).
#pragma once

#include <string>
#include <string_view>

namespace aigw::pipeline {

// {"type":"error","error":{"type":T,"code":"<status>","message":M}}
std::string error_body(std::string_view type, int status, std::string_view message);

// The `type` upstream uses for local replies with this status (BadRequest, Unauthorized, ...).
std::string_view local_error_type(int status);

// True for content types upstream treats as JSON when deciding whether to wrap an error.
bool is_json_content_type(std::string_view content_type);

// A non-JSON error body from an OpenAI-schema backend, wrapped as upstream does.
std::string wrap_openai_backend_error(int status, std::string_view raw_body);

// Upstream's route-not-found direct response body (404, text/plain).
inline constexpr std::string_view kRouteNotFoundBody =
    "No matching route found. It is likely because the model specified in your request is not "
    "configured in the Gateway.";

// The same message in the OpenAI error shape, so SDKs expose it (`err.error.code` is
// "model_not_found"): {"error":{"message":…,"type":"invalid_request_error","param":"model",
// "code":"model_not_found"}}.
std::string route_not_found_json();

} // namespace aigw::pipeline
