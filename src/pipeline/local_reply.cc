// Local replies; see local_reply.h.
#include "pipeline/local_reply.h"

#include "core/json_scan.h"
#include "pipeline/errors.h"
#include "pipeline/models.h"

#include <algorithm>

namespace aigw::pipeline {

LocalReply typed_error_reply(std::string_view type, int status, std::string_view message,
                             HeaderList headers) {
  return {status, "application/json", error_body(type, status, message), std::move(headers)};
}

LocalReply error_reply(int status, std::string_view message, HeaderList headers) {
  return typed_error_reply(local_error_type(status), status, message, std::move(headers));
}

LocalReply unsupported_path(std::string_view target) {
  return {404, "text/plain", "unsupported path: " + std::string(target), {}};
}

LocalReply method_not_allowed(std::string_view method, std::string_view path, bool get_only) {
  return typed_error_reply("MethodNotAllowed", 405,
                           "method " + std::string(method) + " is not allowed on " +
                               std::string(path),
                           {{"allow", get_only ? "GET" : "POST"}});
}

LocalReply anthropic_route_not_found() {
  std::string body = "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":";
  json::append_quoted(body, kRouteNotFoundBody);
  body += "}}";
  return {404, "application/json", std::move(body), {}};
}

LocalReply unauthorized(bool anthropic, std::string_view message,
                        std::string_view www_authenticate) {
  std::string body;
  if (anthropic) {
    body = "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":";
    json::append_quoted(body, message);
    body += "}}";
  } else {
    body = "{\"error\":{\"message\":";
    json::append_quoted(body, message);
    body += ",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}";
  }
  HeaderList headers;
  if (!www_authenticate.empty()) headers.emplace_back("www-authenticate", www_authenticate);
  return {401, "application/json", std::move(body), std::move(headers)};
}

LocalReply route_not_found() { return {404, "application/json", route_not_found_json(), {}}; }

LocalReply models_reply(const control::Snapshot &snap, std::string_view host) {
  return {200, "application/json", models_json(snap, host), {}};
}

LocalReply anthropic_models_reply(const control::Snapshot &snap, std::string_view host) {
  return {200, "application/json", anthropic_models_json(snap, host), {}};
}

LocalReply model_reply(const control::Snapshot &snap, std::string_view host,
                       std::string_view encoded_id) {
  std::string id = percent_decode(encoded_id);
  if (auto m = model_json(snap, host, id)) return {200, "application/json", std::move(*m), {}};
  std::string body = "{\"error\":{\"message\":";
  json::append_quoted(body, "The model '" + id + "' does not exist");
  body += ",\"type\":\"invalid_request_error\",\"param\":\"model\",\"code\":\"model_not_found\"}}";
  return {404, "application/json", std::move(body), {}};
}

HeaderList ratelimit_headers(const ratelimit::Verdict &v) {
  if (!v.limited) return {};
  return {{"x-ratelimit-limit", std::to_string(v.limit)},
          {"x-ratelimit-remaining", std::to_string(v.remaining)},
          {"x-ratelimit-reset", std::to_string(v.reset_seconds)}};
}

LocalReply budget_exceeded(bool anthropic, const ratelimit::Verdict &v, std::string_view message,
                           HeaderList extra) {
  HeaderList headers = ratelimit_headers(v);
  headers.emplace_back("retry-after", std::to_string(std::max<int64_t>(1, v.reset_seconds)));
  for (auto &h : extra)
    headers.push_back(std::move(h));
  std::string body;
  if (anthropic) {
    body = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":";
    json::append_quoted(body, message);
    body += "}}";
  } else {
    body = "{\"error\":{\"message\":";
    json::append_quoted(body, message);
    body += ",\"type\":\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}";
  }
  return {429, "application/json", std::move(body), std::move(headers)};
}

LocalReply model_not_allowed(bool anthropic, std::string_view message) {
  std::string body;
  if (anthropic) {
    body = "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":";
    json::append_quoted(body, message);
    body += "}}";
  } else {
    body = "{\"error\":{\"message\":";
    json::append_quoted(body, message);
    body += ",\"type\":\"invalid_request_error\",\"param\":\"model\",\"code\":"
            "\"model_not_allowed\"}}";
  }
  return {403, "application/json", std::move(body), {}};
}

LocalReply rate_limited(const ratelimit::Verdict &v, std::string_view what) {
  HeaderList headers = ratelimit_headers(v);
  headers.emplace_back("retry-after", std::to_string(std::max<int64_t>(1, v.reset_seconds)));
  std::string body = "{\"error\":{\"message\":";
  json::append_quoted(body, std::string(what) + ": the budget of " + std::to_string(v.limit) +
                                " resets in " + std::to_string(v.reset_seconds) + "s.");
  body += ",\"type\":\"rate_limit_exceeded\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
  return {429, "application/json", std::move(body), std::move(headers)};
}

} // namespace aigw::pipeline
