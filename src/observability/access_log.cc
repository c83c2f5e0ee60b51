// The access log line; see access_log.h.
#include "observability/access_log.h"

#include "core/json_scan.h"
#include "core/log.h"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace aigw::observability {

using Clock = std::chrono::steady_clock;

std::string access_log_line(const ExchangeRecord &r) {
  std::string o;
  o.reserve(1024);
  o += "{\"time\":\"";
  // The date and time to the second are formatted once a second per thread.
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  thread_local std::time_t cached_second = -1;
  thread_local char cached_text[64];
  if (t != cached_second) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::snprintf(cached_text, sizeof cached_text, "%04d-%02d-%02dT%02d:%02d:%02d",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_second = t;
  }
  o += cached_text;
  char msbuf[8] = {'.',
                   static_cast<char>('0' + ms / 100),
                   static_cast<char>('0' + ms / 10 % 10),
                   static_cast<char>('0' + ms % 10),
                   'Z',
                   0};
  o += msbuf;
  o += "\",\"request_id\":";
  json::append_quoted(o, r.request_id);
  o += ",\"method\":";
  json::append_quoted(o, r.method);
  o += ",\"path\":";
  json::append_quoted(o, r.path);
  o += ",\"status\":" + std::to_string(r.status);
  auto dur = std::chrono::duration<double, std::milli>(Clock::now() - r.start).count();
  char dbuf[32];
  auto dr = std::to_chars(dbuf, dbuf + sizeof dbuf, dur, std::chars_format::fixed, 3);
  o += ",\"duration_ms\":";
  o.append(dbuf, static_cast<size_t>(dr.ptr - dbuf));
  auto str = [&](const char *k, const std::string &v) {
    if (v.empty()) return;
    o += ",\"";
    o += k;
    o += "\":";
    json::append_quoted(o, v);
  };
  str("x-ai-eg-model", r.model);
  str("model_name_override", r.model_override);
  str("backend_name", r.backend);
  str("route_name", r.route);
  str("client_id", r.client_id);
  str("virtual_key", r.virtual_key);
  str("cache", r.cache);
  str("response_model", r.response_model);
  str("upstream_host", r.upstream_host);
  str("error", r.error);
  if (r.attempts) o += ",\"attempts\":" + std::to_string(r.attempts);
  if (r.failovers) o += ",\"failovers\":" + std::to_string(r.failovers);
  if (r.continuations) o += ",\"continuations\":" + std::to_string(r.continuations);
  if (r.hedges) o += r.hedge_won ? ",\"hedge\":\"won\"" : ",\"hedge\":\"lost\"";
  if (r.stream) o += ",\"stream\":true";
  if (r.usage_estimated) o += ",\"usage_estimated\":true";
  auto num = [&](const char *k, const std::optional<uint64_t> &v) {
    if (!v) return;
    o += ",\"";
    o += k;
    o += "\":" + std::to_string(*v);
  };
  num("input_tokens", r.usage.input);
  num("output_tokens", r.usage.output);
  num("total_tokens", r.usage.total);
  num("cached_input_tokens", r.usage.cached_input);
  num("cache_creation_input_tokens", r.usage.cache_creation_input);
  num("reasoning_tokens", r.usage.reasoning);
  for (const auto &[key, value] : r.costs) {
    o += ',';
    json::append_quoted(o, key);
    o += ':' + std::to_string(value);
  }
  // The keys of upstream's `aigw run` access log template, for the same dashboards and queries.
  str("session.id", r.session_id);
  str("gen_ai.request.model", r.model);
  str("gen_ai.response.model", r.response_model);
  str("gen_ai.provider.name", r.backend);
  num("gen_ai.usage.input_tokens", r.usage.input);
  num("gen_ai.usage.output_tokens", r.usage.output);
  num("gen_ai.usage.reasoning_tokens", r.usage.reasoning);
  str("mcp.method.name", r.mcp_method);
  str("mcp.tool.name", r.mcp_tool);
  str("mcp.provider.name", r.mcp_backend);
  str("mcp.session.id", r.mcp_session_id);
  str("jsonrpc.request.id", r.jsonrpc_id);
  o += ",\"response_code\":" + std::to_string(r.status);
  str("request.path", r.path);
  str("x-request-id", r.request_id);
  str("user-agent", r.user_agent);
  str("x-forwarded-for", r.forwarded_for);
  if (!r.trace.trace_id.empty()) {
    str("trace_id", r.trace.trace_id);
    str("span_id", r.trace.span_id);
  }
  o += '}';
  return o;
}

void write_access_log(const ExchangeRecord &r) { write_access_line(access_log_line(r)); }

} // namespace aigw::observability
