// Error bodies; see errors.h.
#include "pipeline/errors.h"

#include "core/json_scan.h"

#include <algorithm>
#include <cctype>

namespace aigw::pipeline {

std::string error_body(std::string_view type, int status, std::string_view message) {
  std::string o = "{\"type\":\"error\",\"error\":{\"type\":";
  json::append_quoted(o, type);
  o += ",\"code\":\"" + std::to_string(status) + "\",\"message\":";
  json::append_quoted(o, message);
  o += "}}";
  return o;
}

std::string_view local_error_type(int status) {
  switch (status) {
  case 400: return "BadRequest";
  case 401: return "Unauthorized";
  case 404: return "NotFound";
  case 405: return "MethodNotAllowed";
  case 413: return "PayloadTooLarge";
  case 422: return "UnprocessableEntity";
  case 429: return "TooManyRequests";
  case 501: return "NotImplemented";
  case 503: return "ServiceUnavailable";
  case 504: return "GatewayTimeout";
  default: return "InternalServerError";
  }
}

bool is_json_content_type(std::string_view ct) {
  std::string lower(ct);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return lower.find("application/json") != std::string::npos;
}

std::string wrap_openai_backend_error(int status, std::string_view raw_body) {
  return error_body("OpenAIBackendError", status, raw_body);
}

std::string route_not_found_json() {
  return "{\"error\":{\"message\":\"" + std::string(kRouteNotFoundBody) +
         "\",\"type\":\"invalid_request_error\",\"param\":\"model\",\"code\":\"model_not_found\"}}";
}

} // namespace aigw::pipeline
