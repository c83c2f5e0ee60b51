// pipeline::Exchange: one client request from its head to its record, with every decision of the
// lifecycle (docs/lifecycle.md) and no I/O. The hosts drive it: `aigw run` (src/proxy) maps an
// HTTP/1.1 connection and provider sockets onto it, `aigw extproc` (src/extproc) maps Envoy's
// ProcessingRequests onto it. Where a phase needs something only the host can do (check a budget
// in Redis, fetch an OAuth token, send the request), it says so and the host feeds back what
// happened.
//
// Phases, in order (REQUIRES: called in this order; the attempt and response phases repeat per
// attempt):
//   on_request_headers → on_request_body → [admission → on_admitted]
//   → { next_attempt | use_backend → [on_token] → [on_quota] → call()
//       → on_attempt_failed | on_response_headers → observe | translate | gather → finish_gathered
//       }
//   → complete → record()
// A phase that returns a LocalReply (or Next::kReply: take_reply()) has answered the request: the
// host writes it and goes to complete().
//
// Lifetimes: the exchange owns the request body and pins one Snapshot, so every view it hands out
// lives as long as it does. Thread-safety: one thread at a time (extproc hands it from the router
// stream to the upstream stream under its registry's lock).
#pragma once

#include "control/snapshot.h"
#include "core/header_lookup.h"
#include "core/result.h"
#include "observability/exchange_record.h"
#include "observability/metrics.h"
#include "pipeline/attempts.h"
#include "pipeline/endpoints.h"
#include "pipeline/local_reply.h"
#include "pipeline/request_body.h"
#include "pipeline/response_cache.h"
#include "pipeline/routing.h"
#include "pipeline/sse_filter.h"
#include "pipeline/stream_guard.h"
#include "pipeline/usage.h"
#include "ratelimit/limiter.h"
#include "translate/translator.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::pipeline {

struct ExchangeOptions {
  size_t max_error_body = 4 * 1024 * 1024;  // provider error bodies are read whole to translate
  size_t max_usage_body = 32 * 1024 * 1024; // translated answers; past it passthrough keeps a tail
  bool ratelimit_fail_closed = false;       // a budget store that cannot answer: 503, not admit
  bool tracing = false;                     // trace ids, and bodies kept for the span
  // SecurityPolicy: check client credentials (aigw run). Behind Envoy (extproc), Envoy did, and
  // the identity is read from what it forwards.
  bool verify_clients = true;
  // The route's BackendTrafficPolicy budgets are checked here (aigw run); behind Envoy they are
  // its rate limit filter's, and admission() holds a VirtualKey's budgets only.
  bool route_budgets = true;
  // Usage is asked of every OpenAI stream (stream_options.include_usage, its chunk kept from a
  // client that did not ask), as when a route computes costs: a usage ledger is on.
  bool always_count_usage = false;
  // The response cache: off in a host without a store; an answer over this many bytes is not
  // stored.
  bool response_cache = true;
  size_t response_cache_max_entry = 1024 * 1024;
};

// Counters and names an exchange reports to; no I/O.
struct ExchangeServices {
  observability::Metrics *metrics = nullptr;
  std::atomic<uint64_t> *budget_store_failed_open = nullptr;
  std::string budget_store;        // named in the fail-open warning ("" : the in-memory store)
  auth::JwksStore *jwks = nullptr; // remote JWKS of SecurityPolicies, kept fetched by the host
};

using Reply = std::optional<LocalReply>; // nullopt: the request goes on

// The request head as a host hands it over: the exchange copies the method, target and host;
// `headers` and `client_address` must stay valid for the exchange's life.
struct RequestHead {
  std::string_view method;
  std::string_view target; // path and query, as the endpoints are matched
  std::string_view host;
  HeaderLookup headers; // the client's headers
  std::string_view
      client_address; // the peer's IP, when the host knows it (ConsistentHash SourceIP)
};

// Envoy dynamic metadata a host can read (extproc: the ProcessingRequest's metadata_context): the
// string at namespace/key, or with `field` the string field `field` of the struct at
// namespace/key. nullopt when absent.
using MetadataLookup = std::function<std::optional<std::string>(
    std::string_view ns, std::string_view key, std::string_view field)>;

// Buckets a request must be admitted into, for the host to check against its store (memory or
// Redis) with ratelimit::admit(store, hits, now, &estimate, any_allows).
struct BudgetCheck {
  std::vector<ratelimit::Hit> hits;
  ratelimit::CostValues estimate; // reserve-then-settle: what the request may cost
  bool any_allows = false;        // QuotaPolicy's Shared mode
  int64_t now = 0;
};

// What to send the provider for one attempt. The host serialises it (with the client's headers
// filtered by pipeline/headers.h) or maps it onto header and body mutations.
struct UpstreamCall {
  std::string_view method;
  std::string path; // with query
  std::string_view body;
  std::string_view model; // x-ai-eg-model after any override
  std::string authorization;
  HeaderList headers; // translator and auth headers: they replace client headers
  std::vector<std::string> remove_headers; // client headers this request drops
  const api::HeaderMutation *mutation = nullptr;
};

enum class Next {
  kSend,       // call() is ready
  kFetchToken, // fetch an OAuth token for backend(), then on_token()
  kCheckQuota, // check quota_check() against the store, then on_quota()
  kReply,      // answered locally: take_reply()
};

enum class BodyMode {
  kRelay,     // bytes go to the client as they are; observe() them for usage
  kTranslate, // a translated stream: translate() each piece
  kGather,    // read whole (bounded) with gather(), then finish_gathered()
};

struct ResponsePlan {
  bool retry = false; // drop this answer and call next_attempt()
  BodyMode mode = BodyMode::kRelay;
  bool streaming = false;             // a streamed 200 to a stream request
  bool sse = false;                   // relayed as an event stream (counted as an active stream)
  bool drop_content_type = false;     // the provider's content-type does not describe the body
  bool drop_content_encoding = false; // the body is re-encoded
  std::string_view content_type;      // set it (translated answers); "" for none
  // A streamed 200 with another attempt left (aigw run): the host holds the head and the body
  // until hold_state() says content began; a stream that fails before that is replaced by the
  // next attempt's, and the client never sees it.
  bool hold = false;
  // A continuation (aigw.run/stream-continuation): the client already has the head and the start
  // of the answer; this attempt's events go on in the same body (same framing), without a head.
  bool continuing = false;
};

// Why a streamed answer failed (the provider's stream, as the host saw it).
enum class StreamFailure {
  kReset,      // the connection broke or the body ended early
  kIdle,       // nothing for the route's streamIdleTimeout
  kTimeout,    // the request timeout
  kErrorEvent, // an error event in the stream
  kEmpty,      // the stream ended without content
};

// What completion leaves the budget store to do: for each bucket set, settle to `costs`, refund
// (`costs` null) or leave the reservation as the charge (`keep`).
struct Settlement {
  struct Part {
    const std::vector<ratelimit::Hit> *hits = nullptr;
    const ratelimit::CostValues *costs = nullptr;
    bool keep = false;
  };
  Part route, quota;
  // An answer for the response cache to store under `key` for `ttl_seconds`; null: none.
  struct CacheWrite {
    const std::string *key = nullptr;
    const std::string *value = nullptr;
    int64_t ttl_seconds = 0;
  } cache;
};

class Exchange {
public:
  Exchange(std::shared_ptr<const control::Snapshot> snap, const ExchangeOptions &options,
           const ExchangeServices &services);
  Exchange(const Exchange &) = delete;
  Exchange &operator=(const Exchange &) = delete;
  ~Exchange();

  // 1. The head: ids, trace context, endpoint. Replies to an unknown path (404), a wrong method
  // (405) and GET /v1/models.
  Reply on_request_headers(const RequestHead &head);
  // 2. The body, parsed once (400 when malformed). With `route`, the rule is chosen by model and
  // headers (404 when none matches); under Envoy the route is Envoy's and comes with
  // use_backend().
  Reply on_request_body(std::string body, bool route);
  // 3. Admission: the route's buckets, or null when none applies. Then on_admitted with the
  // store's verdict (nullopt: the store could not answer) — 429, 503 (fail closed) or go.
  BudgetCheck *admission();
  // 2b. The response cache (a route with aigw.run/response-cache, before admission): the key to
  // look up, or null when the request is not cached. Then on_cache() with what the store holds
  // under it; true: a hit, answered by cached() (a stream: its chunks written one by one) or as
  // one body by cached_reply(), and the exchange goes to complete().
  const std::string *cache_lookup() const { return cache_key_.empty() ? nullptr : &cache_key_; }
  bool on_cache(std::optional<std::string> entry);
  const CachedAnswer &cached() const { return *hit_; }
  LocalReply cached_reply() const;
  HeaderList cached_headers() const; // x-aigw-cache: hit, beside content-type
  Reply on_admitted(std::optional<ratelimit::Verdict> verdict);

  // 4. Attempts. aigw run: next_attempt() picks the rule's next backend (priority, weight,
  // retries, deadline) and encodes the request for it. aigw extproc: Envoy picked the backend
  // (its per-route-rule name) and the route; `upstream_host` is the endpoint Envoy will reach.
  Next next_attempt();
  // `metadata`: the request's dynamic metadata, read by a credentialOverride; it must stay valid
  // for the call.
  Next use_backend(std::string_view per_rule_name, std::string_view route_name,
                   std::string_view upstream_host, const MetadataLookup *metadata = nullptr);
  Next on_token(Result<std::string> token);
  BudgetCheck *quota_check() { return &quota_; }
  Next on_quota(std::optional<ratelimit::Verdict> verdict);
  const UpstreamCall &call() const { return call_; }
  const control::CompiledBackend &backend() const { return *ref_->backend; }
  std::shared_ptr<const control::CompiledBackend> backend_shared() const { return ref_->backend; }
  LocalReply take_reply();
  // The host could not write call() into a request head (a client header a head may not hold).
  LocalReply refuse_call(const Error &e);
  // The attempt failed before a response head; true: try next_attempt(), false: take_reply().
  bool on_attempt_failed(AttemptFailure failure, std::string_view detail);
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }
  std::chrono::steady_clock::time_point attempt_deadline() const;

  // 5. The response. `may_retry`: the host can still try another attempt (aigw run).
  // `provider_request_id`: the provider's x-amzn-requestid (Bedrock's answers carry it as id).
  // `headers`: the provider's response headers (rate-limit headers steer later requests).
  ResponsePlan on_response_headers(int status, std::string_view content_type,
                                   std::string_view amzn_error_type, bool may_retry,
                                   std::string_view content_encoding = {},
                                   std::string_view provider_request_id = {},
                                   const HeaderLookup *headers = nullptr);
  void observe(std::string_view piece);                               // kRelay
  void translate(std::string_view piece, bool end, std::string &out); // kTranslate
  bool gather(std::string_view piece); // kGather; false: over its bound, stop reading
  // kGather, at the end (or when gather() refused): the provider's answer made the client's
  // (`local` false: sent under the provider's head), or a 502 of the gateway's own (`local`).
  struct Gathered {
    LocalReply reply;
    bool local = false;
  };
  Gathered finish_gathered(bool complete);
  // A held stream (ResponsePlan::hold) after each piece: still holding, committed (flush what
  // was held and relay from now on), or failed (an error event, or `body_done` with no content).
  StreamGuard::State hold_state(bool body_done);
  // The stream failed before content reached the client (a held stream). true: the attempt is
  // dropped, the host discards what it held and calls next_attempt(); false: no attempt is left,
  // and the stream goes to the client closed by stream_error().
  bool retry_stream(StreamFailure why, std::string_view detail);
  // Why hold_state() said kFailed: an error event, or an end without content.
  StreamFailure hold_failure() const {
    return guard_ && guard_->saw_error_event() ? StreamFailure::kErrorEvent : StreamFailure::kEmpty;
  }
  // The stream broke after its head went out: the error event that ends it in the client's
  // schema (an OpenAI error chunk, an Anthropic `error` event), appended to `out`. The usage seen
  // so far is charged at complete(); without any, the reservation stands as the charge.
  // `report`: the failure counts against the attempt's backend (passive health checks); not when
  // the attempt's own failure was already counted, or no attempt was made.
  void stream_error(StreamFailure why, std::string_view detail, std::string &out,
                    bool report = true);
  // Instead of stream_error(): the rule carries broken streams on (aigw.run/stream-continuation),
  // an attempt is left, and what the client got is plain text. true: the request is re-encoded
  // with that text as an assistant prefill, and next_attempt() picks a backend whose schema
  // continues a prefill (Anthropic, Bedrock); its events go on in the client's body.
  bool continue_stream(StreamFailure why);
  bool continuing() const { return continuing_; }
  // Hedging (aigw run, a rule with the aigw.run/hedge-after annotation): for a request that is
  // not streamed, with another attempt left and no QuotaPolicy in play, how long to wait for
  // the first attempt's response head before sending a second one alongside it.
  std::optional<std::chrono::milliseconds> hedge_delay() const;
  // The attempt in flight steps aside (its state kept) so that next_attempt() can encode the
  // hedge; then the first answer's attempt is kept: take_parked() (the parked one won, the
  // hedge is dropped) or drop_parked() (the hedge won). `hedged` counts it.
  void park_attempt();
  void take_parked();
  void drop_parked(bool hedge_won);
  void hedge_sent(); // the second attempt went out (counted)
  bool has_parked() const { return parked_ != nullptr; }
  // The route rule's streamIdleTimeout (aigw run: between reads of one attempt).
  std::optional<std::chrono::milliseconds> stream_idle_timeout() const {
    return rule_ ? rule_->stream_idle_timeout : std::nullopt;
  }
  // x-ratelimit-* of the admission verdict, for every answer.
  const HeaderList &response_headers() const { return rl_headers_; }

  // 6. Completion: usage, costs and what the budget store must settle. `answered_whole`: the
  // answer reached the client complete. Called before the answer's last bytes are written, so
  // the next request finds the budget charged; later calls return an empty settlement.
  Settlement complete(bool answered_whole);

  observability::ExchangeRecord &record() { return rec_; }
  const observability::ExchangeRecord &record() const { return rec_; }
  const ParsedRequest &parsed() const { return parsed_; }
  bool attempted() const { return translator_ != nullptr; } // an attempt was encoded
  BodyMode body_mode() const { return mode_; }
  pipeline::Endpoint endpoint() const { return endpoint_; }
  const control::Snapshot &snapshot() const { return *snap_; }
  const control::CompiledRoute *route() const { return route_; }
  uint64_t generation() const { return snap_->generation; }

private:
  Reply answer(LocalReply r);
  // The target with `query` (from '?', or "") in place of its query.
  void replace_query(std::string query);
  // SecurityPolicy: the client's credentials checked against `policy` (once per policy), the
  // identity kept and the credential taken out of what goes on. A reply: refused (401).
  Reply authenticate(const auth::ClientAuth *policy);
  // VirtualKey: the identified client's key, its expiry and allowed models (401, 403).
  Reply check_virtual_key();
  Reply key_budget_spent(const ratelimit::Verdict &v,
                         const ratelimit::CompiledVirtualKey::Budget &b);
  void adopt_identity(auth::ClientIdentity id);
  // The cache key of a request on a caching route (cache_key_), from its canonical body.
  void plan_cache();
  void capture(std::string_view piece); // what reached the client, for the cache
  void store_capture();
  // nullopt: this backend cannot serve the request (501 remembered); try the next.
  std::optional<Next> begin_attempt(const control::CompiledBackendRef &ref,
                                    std::string_view upstream_host);
  Next encode();
  // headerValueFilters: anthropic-beta values taken out of what the client sent.
  void filter_header_values();
  // A request header after this backend's headerValueFilters; nullopt when not sent.
  std::optional<std::string> filtered_header(std::string_view name) const;
  // credentialOverride: the credential this request carries (a header, or Envoy metadata).
  // nullopt: none applies, the backend's own is used; else what to do next.
  std::optional<Next> override_credential();
  Next quota_step();
  // The attempt in flight ends (its backend's in-flight count drops); idempotent.
  void end_attempt();
  std::optional<std::string> hash_key() const;
  // Passive health checks: the attempt's outcome (a status, or a failure before one).
  void report_outcome(int status, bool local_failure);
  // The provider's rate-limit headers (and retry-after on a 429) into its backend's state.
  void read_rate_limits(int status, const HeaderLookup &headers);
  Next ready();
  Next fail(LocalReply reply);
  Next exhausted();
  void fail_open(std::string_view what);
  Reply verdict_on(BudgetCheck &check, const std::optional<ratelimit::Verdict> &verdict,
                   std::string_view what, std::string_view refusal);
  bool account_usage(bool answered_whole); // false: a success whose usage could not be read

  std::shared_ptr<const control::Snapshot> snap_;
  const ExchangeOptions &opts_;
  const ExchangeServices &svc_;
  observability::ExchangeRecord rec_;
  RequestHead head_; // method and target view rec_'s copies, host host_
  std::string host_;
  HeaderLookup lookup_; // the client's headers, with x-ai-eg-model the body's model
  std::string_view endpoint_path_;
  std::string_view query_;                              // views into rec_.path
  const auth::ClientAuth *authed_ = nullptr;            // the SecurityPolicy checked
  const ratelimit::CompiledVirtualKey *vkey_ = nullptr; // the client's VirtualKey
  bool key_checked_ = false;
  ratelimit::CostValues key_costs_; // the route's costs and the key's, at completion
  std::optional<auth::ClientIdentity> identity_;
  std::string body_;
  pipeline::Endpoint endpoint_ = pipeline::Endpoint::kUnknown;
  ParsedRequest parsed_;
  const control::CompiledRule *rule_ = nullptr;
  const control::CompiledRoute *route_ = nullptr;
  // Admission.
  BudgetCheck admission_;
  HeaderList rl_headers_;
  bool route_settled_ = false;
  // Attempts.
  std::optional<BackendPicker> picker_;
  uint32_t attempt_ = 0, max_attempts_ = 1;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  const control::CompiledBackendRef *ref_ = nullptr;
  std::string prev_backend_; // the previous attempt's (fallback counting)
  const control::CompiledBackend *signer_ = nullptr;
  control::BackendState *in_flight_ = nullptr; // the attempt counted in its backend's in_flight
  struct AttemptSlot;                          // an attempt parked while its hedge is encoded
  std::unique_ptr<AttemptSlot> parked_;
  void swap_parked();
  std::chrono::steady_clock::time_point attempt_start_{};
  std::unique_ptr<control::CompiledBackend> adjusted_; // signed for the host Envoy reaches (SigV4)
  std::unique_ptr<translate::Translator> translator_;
  std::optional<std::string> translated_body_, mutated_body_;
  UpstreamCall call_;
  const control::CompiledModelQuota *quota_spec_ = nullptr;
  BudgetCheck quota_;
  std::optional<LocalReply> reply_;
  const MetadataLookup *metadata_ = nullptr; // during use_backend only
  int last_status_ = 503;
  std::string last_error_ = "no healthy upstream";
  // Response.
  int status_ = 0;
  std::string content_type_, amzn_error_type_;
  BodyMode mode_ = BodyMode::kRelay;
  bool sse_ = false;
  bool scan_body_ = true;       // a relayed body that may hold usage (not audio or images)
  bool injected_usage_ = false; // include_usage asked of the provider for the gateway's sake
  std::optional<UsageChunkFilter> usage_filter_; // ... so its usage chunk is not relayed
  SseUsageScanner scanner_;
  std::string gathered_;
  bool overflow_ = false;
  UsageTail tail_;
  bool translated_ok_ = false;
  bool completed_ = false;
  std::optional<StreamGuard> guard_; // a held stream
  bool stream_broke_ = false;        // stream_error(): cut after content reached the client
  bool own_usage_ = false;           // the answering attempt reported usage of its own
  bool learn_ = false;               // aigw run: outcomes teach the backends' state
  bool continuing_ = false;          // the attempt carries a broken stream on
  bool relay_through_ = false;       // ... and its passthrough bytes go through translate()
  std::optional<ContinuationFilter> continuation_;
  std::string original_body_, partial_text_; // the request as sent first; the answer so far
  api::TokenUsage failed_usage_;             // what attempts dropped by retry_stream() reported
  ratelimit::CostValues quota_costs_;
  Settlement settlement_;
  // The response cache.
  std::string cache_key_;
  std::optional<CachedAnswer> capture_, hit_; // the answer going out; the one served from it
  std::string cache_value_;
  size_t capture_bytes_ = 0;
};

// A new request id in the UUIDv4 format (when the client sent no x-request-id).
std::string make_request_id();

} // namespace aigw::pipeline
