// MCP metrics; see mcp_metrics.h.
#include "observability/mcp_metrics.h"

#include <algorithm>
#include <cstdio>

namespace aigw::observability {

std::string_view mcp_method_label(std::string_view method) {
  static constexpr std::string_view kMethods[] = {"initialize",
                                                  "notifications/initialized",
                                                  "ping",
                                                  "tools/list",
                                                  "tools/call",
                                                  "prompts/list",
                                                  "prompts/get",
                                                  "resources/list",
                                                  "resources/read",
                                                  "resources/templates/list",
                                                  "resources/subscribe",
                                                  "resources/unsubscribe",
                                                  "completion/complete",
                                                  "logging/setLevel",
                                                  "notifications/progress",
                                                  "notifications/cancelled",
                                                  "notifications/roots/list_changed",
                                                  "GET",
                                                  "DELETE"};
  for (auto m : kMethods)
    if (m == method) return m;
  return "_OTHER";
}

const std::vector<double> &McpMetrics::buckets() {
  static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

void McpMetrics::observe(Histogram &h, double v) {
  const auto &b = buckets();
  if (h.counts.empty()) h.counts.assign(b.size() + 1, 0);
  size_t i = static_cast<size_t>(std::lower_bound(b.begin(), b.end(), v) - b.begin());
  ++h.counts[i];
  h.sum += v;
  ++h.count;
}

void McpMetrics::record_request(std::string_view method, std::string_view backend,
                                std::string_view status, std::string_view error_type,
                                double seconds) {
  std::string m(mcp_method_label(method));
  std::lock_guard lock(mu_);
  observe(durations_[{m, std::string(error_type)}], seconds);
  ++counts_[{m, std::string(status), std::string(backend)}];
}

void McpMetrics::record_initialization(double seconds) {
  std::lock_guard lock(mu_);
  observe(init_, seconds);
}

void McpMetrics::record_capability(std::string_view type, std::string_view side) {
  static constexpr std::string_view kTypes[] = {"tools",       "resources",   "prompts",
                                                "sampling",    "roots",       "experimental",
                                                "elicitation", "completions", "logging"};
  if (std::find(std::begin(kTypes), std::end(kTypes), type) == std::end(kTypes)) return;
  std::lock_guard lock(mu_);
  ++capabilities_[{std::string(type), std::string(side)}];
}

void McpMetrics::record_progress() {
  std::lock_guard lock(mu_);
  ++progress_;
}

namespace {

std::string labels(std::initializer_list<std::pair<const char *, std::string_view>> kv) {
  std::string o;
  for (const auto &[k, v] : kv) {
    if (v.empty()) continue;
    o += o.empty() ? "" : ",";
    o += k;
    o += "=\"";
    for (char c : v) {
      if (c == '"' || c == '\\') o += '\\';
      if (c == '\n')
        o += "\\n";
      else
        o += c;
    }
    o += '"';
  }
  return o;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

} // namespace

void McpMetrics::render(std::string &o) const {
  std::lock_guard lock(mu_);
  const auto &b = buckets();
  auto histogram = [&](const std::string &name, const std::string &lbl, const Histogram &h) {
    uint64_t cumulative = 0;
    std::string sep = lbl.empty() ? "" : ",";
    for (size_t i = 0; i <= b.size(); ++i) {
      cumulative += h.counts.empty() ? 0 : h.counts[i];
      o += name + "_bucket{" + lbl + sep + "le=\"" + (i < b.size() ? num(b[i]) : "+Inf") + "\"} " +
           std::to_string(cumulative) + "\n";
    }
    std::string braces = lbl.empty() ? "" : "{" + lbl + "}";
    o += name + "_sum" + braces + " " + num(h.sum) + "\n";
    o += name + "_count" + braces + " " + std::to_string(h.count) + "\n";
  };
  if (!durations_.empty()) {
    o += "# HELP mcp_request_duration Duration of MCP requests.\n# TYPE mcp_request_duration "
         "histogram\n";
    for (const auto &[k, h] : durations_)
      histogram("mcp_request_duration",
                labels({{"error_type", k.second}, {"mcp_method_name", k.first}}), h);
  }
  if (!counts_.empty()) {
    o += "# HELP mcp_method_count_total MCP requests by method and outcome.\n# TYPE "
         "mcp_method_count_total counter\n";
    for (const auto &[k, n] : counts_)
      o += "mcp_method_count_total{" +
           labels({{"mcp_backend", std::get<2>(k)},
                   {"mcp_method_name", std::get<0>(k)},
                   {"status", std::get<1>(k)}}) +
           "} " + std::to_string(n) + "\n";
  }
  if (init_.count) {
    o += "# HELP mcp_initialization_duration Duration of MCP session initialization.\n# TYPE "
         "mcp_initialization_duration histogram\n";
    histogram("mcp_initialization_duration", "", init_);
  }
  if (!capabilities_.empty()) {
    o += "# HELP mcp_capabilities_negotiated_total Capabilities negotiated at initialize.\n# "
         "TYPE mcp_capabilities_negotiated_total counter\n";
    for (const auto &[k, n] : capabilities_)
      o += "mcp_capabilities_negotiated_total{" +
           labels({{"capability_side", k.second}, {"capability_type", k.first}}) + "} " +
           std::to_string(n) + "\n";
  }
  if (progress_) {
    o += "# HELP mcp_progress_notifications_total Progress notifications relayed.\n# TYPE "
         "mcp_progress_notifications_total counter\n";
    o += "mcp_progress_notifications_total " + std::to_string(progress_) + "\n";
  }
}

} // namespace aigw::observability
