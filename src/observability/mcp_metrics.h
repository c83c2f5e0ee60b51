// Upstream's MCP gateway metrics (internal/metrics/mcp_metrics.go), exposed with the GenAI ones:
//   mcp_request_duration            histogram, seconds: mcp_method_name, error_type (failures)
//   mcp_method_count_total          counter: mcp_method_name, status (success|failed|error),
//                                   mcp_backend
//   mcp_initialization_duration     histogram, seconds
//   mcp_capabilities_negotiated_total  counter: capability_type, capability_side (client|server)
//   mcp_progress_notifications_total   counter
// Labels are bounded: a method that is not MCP's is "_OTHER", backends come from the
// configuration. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace aigw::observability {

class McpMetrics {
public:
  // One request to an MCP route. `status`: success, failed (a tool answered isError) or error.
  void record_request(std::string_view method, std::string_view backend, std::string_view status,
                      std::string_view error_type, double seconds);
  void record_initialization(double seconds);
  void record_capability(std::string_view type, std::string_view side);
  void record_progress();

  void render(std::string &out) const;

  static const std::vector<double> &buckets(); // upstream's: 0.005 ... 10 s

private:
  struct Histogram {
    std::vector<uint64_t> counts;
    double sum = 0;
    uint64_t count = 0;
  };
  static void observe(Histogram &h, double v);
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Histogram> durations_; // method, error type
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> counts_;
  Histogram init_;
  std::map<std::pair<std::string, std::string>, uint64_t> capabilities_;
  uint64_t progress_ = 0;
};

// `method` if it is one of MCP's, else "_OTHER" (a client chooses it: the label stays bounded).
std::string_view mcp_method_label(std::string_view method);

} // namespace aigw::observability
