// One client HTTP request to an MCPRoute, decided without I/O (the host performs it): the
// gateway aggregates the route's MCP servers behind one Streamable HTTP endpoint, as upstream's
// MCP proxy does.
//
//   begin(request)        → a Reply, or the backend calls of the first round
//   on_answers(answers)   → a Reply, or the calls of the next round (initialize has two)
//
// The calls of a round are independent: the host sends them in parallel and hands back one answer
// per call, in order. Names the client sees are `<backend>__<name>` (bare for prefixMode Never),
// resource URIs `<backend>+<uri>` (`ui://<backend>/...` for MCP Apps); calls are routed back to the
// owning backend with the names restored. The client's session id encrypts every backend's own.
#pragma once

#include "control/snapshot.h"
#include "core/header_lookup.h"
#include "core/sse.h"
#include "mcp/cel.h"
#include "mcp/session.h"
#include "mcp/session_crypto.h"

#include <string>
#include <variant>
#include <vector>

namespace aigw::mcp {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct BackendCall {
  const control::CompiledMCPBackend *backend = nullptr;
  std::string method = "POST";
  std::string target; // path and query
  Headers headers;    // besides host, content-length and connection
  std::string body;
};

struct BackendAnswer {
  bool ok = false; // a response came (any status)
  int status = 0;
  std::string content_type;
  std::string session_id; // its mcp-session-id
  std::string body;       // decoded (no content-encoding)
  std::string error;      // why no response came
};

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  Headers headers;
  std::string body;
};

struct Request {
  std::string_view method; // GET, POST, DELETE
  HeaderLookup headers;
  std::string_view body;
  // A route with securityPolicy.oauth: the issuer's keys (the host fetches them) and the time.
  const std::vector<auth::JwtKey> *keys = nullptr;
  int64_t now = 0;
  // For authorization CEL: the host, the path and every header (names lower-case).
  std::string_view host, path, query; // query: after '?', for apiKeyAuth params
  std::vector<std::pair<std::string, std::string>> header_list;
  // Tracing on: called with the client's params._meta.traceparent (empty when none), returns
  // the traceparent of this request's span, which the backends get in params._meta (as
  // upstream's tracer injects it).
  std::function<std::string(std::string_view client_traceparent)> trace;
};

// The protocol versions the gateway speaks, oldest first.
inline constexpr std::string_view kProtocolVersions[] = {"2024-11-05", "2025-03-26", "2025-06-18",
                                                         "2025-11-25"};
inline constexpr std::string_view kDefaultProtocolVersion = "2025-06-18";

class Exchange {
public:
  using Step = std::variant<Reply, std::vector<BackendCall>>;

  Exchange(const control::CompiledMCPRoute &route, SessionCrypto &crypto, std::string version);

  Step begin(const Request &r);
  Step on_answers(std::vector<BackendAnswer> answers);

  // Event streams relayed as they come: the answer of a call to one backend when it is an event
  // stream (progress, requests the server makes of the client, then the response), and the
  // notification stream a GET opens (every backend's, merged, with heartbeats).
  bool relays_streams() const { return phase_ == Phase::kSingle || phase_ == Phase::kListen; }
  bool listening() const { return phase_ == Phase::kListen; }
  // An event of a relayed stream grew past kMaxEventData without ending: the host ends the
  // stream (a compressed answer could otherwise expand without bound).
  bool stream_overflow() const { return stream_overflow_; }
  static constexpr size_t kMaxEventData = 16 * 1024 * 1024;
  // The reply head for a relayed stream (its body is what the calls below return).
  Reply stream_head() const;
  // Bytes of call `i`'s event stream → the events for the client, names and URIs rewritten,
  // requests the server makes re-identified so that the client's answer finds its way back.
  std::string stream_events(size_t i, std::string_view chunk);
  // A GET stream's keep-alive: a ping request the client answers (and the gateway absorbs).
  static std::string heartbeat();
  // The route's tools changed (a reload): sent on open GET streams.
  static std::string tools_changed();

  // A header that carries the client's credential for the gateway (oauth's Authorization, the
  // apiKeyAuth headers): never sent to a backend.
  bool is_gateway_credential(std::string_view header) const;

  // For the access log and metrics.
  const std::string &rpc_method() const { return rpc_method_; }
  const std::string &tool() const { return tool_; }
  const std::string &backend_name() const { return single_ ? single_->name : empty_; }
  const std::string &error() const { return error_; }
  const std::string &jsonrpc_id() const { return id_raw_; }
  // For the metrics: success, failed (a tool answered isError) or error (a refusal, a JSON-RPC
  // error, a backend failure); the progress notifications relayed; capabilities negotiated.
  std::string_view outcome(int status) const {
    if (status >= 400 || rpc_error_) return "error";
    return tool_failed_ ? "failed" : "success";
  }
  size_t progress_relayed() const { return progress_; }
  // initialize: the capability names of the client (what it asked with) and of the session.
  const std::vector<std::string> &client_capabilities() const { return client_caps_; }
  std::vector<std::string> server_capabilities() const;
  const std::string &session_id() const { return client_session_id_; }

private:
  enum class Phase {
    kNone,
    kInitialize,
    kInitialized,
    kFanOut,
    kSingle,
    kDelete,
    kListen,
    kAnswer
  };

  Step post(const Request &r);
  // securityPolicy.oauth: the request's JWT, verified; nullopt when it passes.
  std::optional<Reply> authenticate(const Request &r);
  // Behind Envoy: the claims and scopes of the token Envoy verified, for authorization.
  void read_envoy_verified_claims();
  // securityPolicy.apiKeyAuth: the client's key, known; nullopt when it passes.
  std::optional<Reply> authenticate_key(const Request &r);
  // securityPolicy.authorization for a call of `tool` on `backend`: allowed, or the scopes an
  // Allow rule wanted that the token lacks (for insufficient_scope).
  struct Decision {
    bool allow = true;
    std::vector<std::string> missing_scopes;
  };
  Decision authorize(std::string_view backend, std::string_view tool,
                     std::string_view params = {}) const;
  // backendSelector: whether a new session gets `backend`.
  bool selected(std::string_view backend) const;
  // The `request` a rule's CEL sees.
  cel::Value cel_request(std::string_view backend, std::string_view tool,
                         std::string_view params) const;
  Step initialize(std::string_view params);
  Step initialized(std::vector<BackendAnswer> &answers);
  Step fan_out(std::string_view params, uint16_t capability);
  Step fan_out_reply(std::vector<BackendAnswer> &answers);
  Step single_call(std::string_view params);
  Step single_reply(BackendAnswer &answer);
  Step deleted();
  Step listen();
  Step client_answer(std::string_view body_id_raw, std::string_view body);
  // One complete event from call `i` (its data, and its id) → what the client gets.
  std::string relay_event(size_t i, const std::string &data, const std::string &id);

  // A backend call: its path (and the API key query), the key or the client's own header,
  // the forwarded headers, the backend's session.
  BackendCall call(const control::CompiledMCPBackend &b, std::string body,
                   std::string_view session_id, std::string method = "POST") const;
  Reply text(int status, std::string message);
  // A message from a backend with names and URIs turned into the client's.
  std::string downstream_message(std::string_view json, const control::CompiledMCPBackend &b);
  std::string session_header() const;

  const control::CompiledMCPRoute &route_;
  SessionCrypto &crypto_;
  std::string version_;
  HeaderLookup headers_;
  std::string http_method_, host_, path_;
  std::vector<std::pair<std::string, std::string>> header_list_;
  std::optional<ClientSession> session_;
  std::string client_session_id_; // as the client sent it
  Phase phase_ = Phase::kNone;
  std::string rpc_method_, tool_, error_, empty_;
  std::string id_raw_;               // the client's JSON-RPC id, as JSON
  std::string client_version_;       // initialize: the version the client asked for
  std::vector<BackendCall> calls_;   // the round in flight
  std::vector<std::string> results_; // fan-out: each backend's result, as JSON
  std::vector<std::string> init_results_;
  const control::CompiledMCPBackend *single_ = nullptr;
  struct StreamState {
    sse::LineSplitter lines;
    std::string data, id;
    bool has_data = false;
  };
  std::vector<StreamState> streams_;
  std::vector<std::pair<std::string, std::string>> last_event_ids_; // backend → its last id
  std::optional<std::string> subject_; // the verified JWT's sub (oauth routes)
  std::string jwt_payload_;            // its claims, as JSON
  std::string client_id_;              // apiKeyAuth: whose key it was
  std::vector<std::string> scopes_;
  bool rpc_error_ = false, tool_failed_ = false, stream_overflow_ = false;
  size_t progress_ = 0;
  std::vector<std::string> client_caps_;
  uint16_t merged_caps_ = 0;
  Headers claim_headers_; // claimToHeaders, from the verified JWT
};

// Ids of requests a server makes of the client, as upstream encodes them so that the client's
// answer is routed back: "<id>__<i|f|s>__<backend>" (integer, float bits in hex, base64 string).
std::string encode_server_request_id(std::string_view id_json, std::string_view backend);
// (backend, the original id as JSON), or nullopt when `id` is not one of those.
std::optional<std::pair<std::string, std::string>> decode_server_request_id(std::string_view id);

// The WWW-Authenticate of a 401 on an oauth route, as upstream's response override writes it.
std::string www_authenticate(const api::MCPRouteOAuth &oauth);
// The protected-resource metadata document (RFC 9728) of an oauth route.
std::string protected_resource_metadata(const api::MCPRouteOAuth &oauth);

// The authorization server's metadata when it cannot be fetched: upstream's fallback.
std::string fallback_server_metadata(const api::MCPRouteOAuth &oauth);

// The MCPRoute a request is for: the path exact, the host among the route's hostnames (when it
// lists some), every header match; null when none.
const control::CompiledMCPRoute *match_route(const control::Snapshot &s, std::string_view target,
                                             std::string_view host, const HeaderLookup &headers);

// The route a session id was issued for (behind Envoy, a request without x-ai-eg-mcp-route is
// routed by its session, as upstream routes it); null when it names none.
const control::CompiledMCPRoute *session_route(const control::Snapshot &s,
                                               std::string_view session_id, SessionCrypto &crypto);

// The `sub` claim of a bearer JWT (not verified: the session is only bound to it), or "".
std::string bearer_subject(std::string_view authorization);

// Names and URIs as the client sees them, and back.
std::string downstream_uri(std::string_view backend, std::string_view uri);
// (backend, upstream uri), or nullopt when the URI carries no backend.
std::optional<std::pair<std::string, std::string>> upstream_uri(std::string_view uri);

} // namespace aigw::mcp
