// The external processor's request phases (reference §8.3), one Stream per ext_proc gRPC stream.
// Envoy opens two per request: the router filter's (request headers and body, then the
// response) and, for each attempt, the upstream filter's (request headers with the xDS attributes
// naming the backend). They meet in RequestRegistry under the internal request id the router
// phase hands out in `x-ai-eg-internal-req-id`. Translation, auth, usage and costs are the same
// code `aigw run` uses. Thread-safety: a Stream belongs to its gRPC stream's thread; the registry
// is locked.
#pragma once

#include "envoy/service/ext_proc/v3/external_processor.pb.h"
#include "extproc/filter_config.h"
#include "observability/metrics.h"
#include "pipeline/endpoints.h"
#include "pipeline/request_body.h"
#include "pipeline/usage.h"
#include "translate/translator.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace aigw::extproc {

namespace pb = envoy::service::ext_proc::v3;

struct RequestState {
  // The router and upstream streams of one request are served on different gRPC threads: each
  // phase holds this while it reads or writes the state.
  std::mutex mu;
  std::string id;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> first_byte;
  pipeline::Endpoint endpoint = pipeline::Endpoint::kUnknown;
  std::string original_path;
  std::string body;
  pipeline::ParsedRequest parsed;
  // Set by the latest upstream-level phase (an attempt).
  std::shared_ptr<const control::CompiledBackend> backend;
  std::unique_ptr<translate::Translator> translator;
  std::string request_model;
  std::vector<std::string> secrets; // what the latest attempt sent as credentials (for scrubbing)
  std::string route; // namespace/name, from the route metadata attribute when Envoy sends it
  int attempts = 0;
  // Response side.
  int status = 0;
  bool streaming = false;
  std::string response_content_type;
  std::string amzn_error_type;
  std::string response_buffer; // a non-streamed answer gathered across chunks
  pipeline::SseUsageScanner scanner;
};

class RequestRegistry {
public:
  std::shared_ptr<RequestState> create(std::string id);
  std::shared_ptr<RequestState> find(const std::string &id);
  void erase(const std::string &id);
  size_t size();

private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<RequestState>> states_;
};

using ConfigSource = std::function<std::shared_ptr<const FilterConfig>()>;

class Stream {
public:
  Stream(RequestRegistry &registry, ConfigSource config, std::string root_prefix = "/",
         observability::Metrics *metrics = nullptr, std::string endpoint_prefixes = {})
      : registry_(registry), config_(std::move(config)), root_prefix_(std::move(root_prefix)),
        metrics_(metrics), endpoint_prefixes_(std::move(endpoint_prefixes)) {}
  ~Stream();

  // One ProcessingRequest → its ProcessingResponse.
  pb::ProcessingResponse process(const pb::ProcessingRequest &req);

private:
  pb::ProcessingResponse dispatch(const pb::ProcessingRequest &req);
  pb::ProcessingResponse router_request_headers(const pb::HttpHeaders &h);
  pb::ProcessingResponse router_request_body(const pb::HttpBody &b);
  pb::ProcessingResponse upstream_request_headers(const pb::ProcessingRequest &req);
  pb::ProcessingResponse response_headers(const pb::HttpHeaders &h);
  pb::ProcessingResponse response_body(const pb::HttpBody &b);

  RequestRegistry &registry_;
  ConfigSource config_;
  std::string root_prefix_;
  observability::Metrics *metrics_;
  std::string endpoint_prefixes_;
  std::shared_ptr<RequestState> state_;
  std::shared_ptr<const FilterConfig> cfg_;            // pinned for the whole request
  std::unique_lock<std::mutex> *phase_lock_ = nullptr; // the current phase's lock on state_->mu
  // Takes state_->mu for the rest of the phase (after a phase created or found the state).
  void lock_state() {
    if (phase_lock_ && state_ && !phase_lock_->owns_lock())
      *phase_lock_ = std::unique_lock<std::mutex>(state_->mu);
  }
  bool router_ = true;
};

// The header value of an HttpHeaders (raw_value preferred, as Envoy sends it).
std::string header_value(const pb::HttpHeaders &h, std::string_view name);

} // namespace aigw::extproc
