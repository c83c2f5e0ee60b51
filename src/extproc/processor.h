// The external processor's host side (reference §8.3): Envoy's ProcessingRequests mapped onto the
// phases of pipeline::Exchange, and the phases' results onto ProcessingResponses (header and body
// mutations, immediate responses, dynamic metadata). Every decision is the Exchange's, as under
// `aigw run`.
//
// Envoy opens two kinds of stream per request: the router filter's (request headers and body,
// then the response) and, for each attempt, the upstream filter's (request headers with the xDS
// attributes naming the backend and the route). They meet in RequestRegistry under the internal
// request id the router phase hands out in `x-ai-eg-internal-req-id`.
// Thread-safety: a Stream belongs to its gRPC stream's thread. The router and upstream streams of
// one request run on different threads: each phase holds its request's mutex while it drives the
// Exchange (the happens-before between them); the registry has its own lock.
#pragma once

#include "control/config_store.h"
#include "envoy/service/ext_proc/v3/external_processor.pb.h"
#include "observability/observe.h"
#include "pipeline/exchange.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace aigw::extproc {

namespace pb = envoy::service::ext_proc::v3;

// What every stream of one processor shares (read-only once serving).
struct ProcessorContext {
  control::ConfigStore *store = nullptr;
  pipeline::ExchangeOptions options;
  pipeline::ExchangeServices services;
  observability::ObserveTargets observe;
  // VirtualKey budgets (this process's; Envoy's rate limit filter knows nothing of them).
  ratelimit::MemoryStore *key_budgets = nullptr;
  // The response cache of routes with aigw.run/response-cache (this process's memory).
  pipeline::ResponseCache *response_cache = nullptr;
  // -rootPrefix and -endpointPrefixes, parsed once: where the OpenAI and Cohere endpoints live.
  std::string root_prefix;   // "" for "/"
  std::string openai_prefix; // "" by default
  std::string cohere_prefix = "/cohere";
  std::string typesafe_prefix = "/typesafe";
  std::string anthropic_prefix = "/anthropic";

  // Parses "openai:/openai,cohere:/cohere" (upstream's -endpointPrefixes) and -rootPrefix.
  void set_prefixes(std::string_view root, std::string_view endpoint_prefixes);
};

// One request, from its router headers to its last response chunk.
struct RequestEntry {
  std::mutex mu; // held by each phase while it drives the exchange
  std::string internal_id;
  std::string original_path;
  std::vector<std::pair<std::string, std::string>> headers; // the client's, lower-case names
  std::unique_ptr<pipeline::Exchange> exchange;
  bool finished = false;      // observed (metrics) already
  bool admitted = false;      // a VirtualKey's budgets were checked
  bool cache_checked = false; // the response cache was asked (Envoy's retries come back)

  RequestEntry() = default;
  RequestEntry(const RequestEntry &) = delete;
  RequestEntry &operator=(const RequestEntry &) = delete;
  // The last owner may be either stream's thread. Its reference count already orders this after
  // the phases that used the exchange; taking the lock says so in a way ThreadSanitizer sees too
  // (this translation unit is not instrumented, see CMakeLists.txt).
  ~RequestEntry() {
    std::lock_guard lock(mu);
    exchange.reset();
  }
};

class RequestRegistry {
public:
  std::shared_ptr<RequestEntry> create(std::string id);
  void insert(const std::string &id, std::shared_ptr<RequestEntry> entry);
  std::shared_ptr<RequestEntry> find(const std::string &id);
  void erase(const std::string &id);
  size_t size();

private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<RequestEntry>, std::less<>> entries_;
};

class Stream {
public:
  Stream(RequestRegistry &registry, const ProcessorContext &ctx) : registry_(registry), ctx_(ctx) {}
  ~Stream();
  Stream(const Stream &) = delete;
  Stream &operator=(const Stream &) = delete;

  // One ProcessingRequest → its ProcessingResponse.
  pb::ProcessingResponse process(const pb::ProcessingRequest &req);

private:
  pb::ProcessingResponse dispatch(const pb::ProcessingRequest &req);
  pb::ProcessingResponse router_request_headers(const pb::HttpHeaders &h);
  pb::ProcessingResponse router_request_body(const pb::HttpBody &b);
  pb::ProcessingResponse upstream_request_headers(const pb::ProcessingRequest &req);
  pb::ProcessingResponse response_headers(const pb::HttpHeaders &h);
  pb::ProcessingResponse response_body(const pb::HttpBody &b);
  pb::ProcessingResponse upstream_call(pipeline::Exchange &ex);
  void completion_metadata(pipeline::Exchange &ex, pb::ProcessingResponse &r);
  // The request's metrics, once (a local reply, the last response chunk, or the stream's end).
  void finish(RequestEntry &e);
  void settle(const pipeline::Settlement &s);
  // Maps the client's path under the configured prefixes; "" when it is under none.
  std::string map_path(std::string_view path) const;

  RequestRegistry &registry_;
  const ProcessorContext &ctx_;
  std::shared_ptr<RequestEntry> entry_;
  std::unique_lock<std::mutex> *phase_lock_ = nullptr; // the current phase's lock on entry_->mu
  // Takes entry_->mu for the rest of the phase (after a phase created or found the entry).
  void lock_entry() {
    if (phase_lock_ && entry_ && !phase_lock_->owns_lock())
      *phase_lock_ = std::unique_lock<std::mutex>(entry_->mu);
  }
  bool router_ = true;
};

// The header value of an HttpHeaders (raw_value preferred, as Envoy sends it).
std::string header_value(const pb::HttpHeaders &h, std::string_view name);

} // namespace aigw::extproc
