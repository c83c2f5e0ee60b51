// Header rules between client, gateway and provider: what is stripped (hop-by-hop, client
// credentials, internal x-ai-eg-* headers), what mutations apply, and the upstream request head.
#pragma once

#include "api/resources.h"
#include "core/result.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::pipeline {

using HeaderView = std::pair<std::string_view, std::string_view>; // name as sent, value

bool iequals(std::string_view a, std::string_view b);

// Hop-by-hop headers (RFC 9110 §7.6.1) plus the ones the gateway always sets itself.
bool is_hop_by_hop(std::string_view name);

// True when a client header must not reach the provider: hop-by-hop, Host, Content-Length, the
// client's own credentials of any scheme (Authorization, Proxy-Authorization, x-api-key, api-key,
// x-goog-api-key, Cookie: the backend's credential is the gateway's to set), Accept-Encoding (the
// gateway must read the response) and any x-ai-eg-* internal header (clients cannot spoof them).
bool strip_from_client(std::string_view name);

// True when `v` may be a header field value (RFC 9110 §5.5): no control character but HTAB, no
// DEL. A value that fails this must never reach a request head: CR or LF would end the header
// and let the rest be read as headers or a second request.
bool is_valid_header_value(std::string_view v);

// The 400s for a value a header may not hold (named; the model as the field "model") and for a
// request target a request line may not hold.
Error invalid_header_value(std::string_view name);
Error invalid_request_target();

// True when `p` may be a request target in a request line: visible ASCII only (no space, no
// control character).
bool is_valid_request_target(std::string_view p);

// Framing checks of a request head a parser accepted (RFC 9112 §6.3, §3.2), so that no body is
// ever read with the wrong length: a missing or repeated Host (HTTP/1.1), Content-Length values
// that differ, Transfer-Encoding with Content-Length or in HTTP/1.0, chunked not the final coding
// once (400), any coding but chunked (501). `version` is 10 or 11. nullopt when the head is
// fine; else the status and a message to answer with, and the connection must close.
struct FramingError {
  unsigned status;
  std::string message;
};
std::optional<FramingError> check_request_framing(unsigned version,
                                                  const std::vector<HeaderView> &headers);

// The secrets an attempt sends the provider: the Authorization value and its token, and the
// values of api-key, x-api-key and x-goog-api-key among `extra`. What a provider echoes of them
// in an error body is scrubbed before it reaches the client.
std::vector<std::string>
sent_secrets(std::string_view authorization,
             const std::vector<std::pair<std::string, std::string>> &extra);
// Replaces every occurrence of each secret (8 bytes or more) in `body` with "[REDACTED]".
void scrub_secrets(std::string &body, const std::vector<std::string> &secrets);

// True when a configured header mutation may set `name`: never an internal x-ai-eg-* header, a
// hop-by-hop or framing header, a pseudo-header, Host or Authorization (the gateway's own).
bool mutation_may_set(std::string_view name);

struct UpstreamHead {
  std::string_view method;
  std::string_view path;          // with query
  std::string_view host_header;   // the provider's host
  std::string_view model;         // value for x-ai-eg-model
  std::string_view authorization; // full Authorization value, empty for none
  std::string_view request_id;
  size_t content_length = 0;
  // Set by the translator and the auth step (api-key, x-amz-date, anthropic-version, ...): they
  // replace any client header of the same name.
  const std::vector<std::pair<std::string, std::string>> *extra = nullptr;
  // Client headers this request drops (a header value filter that left nothing).
  const std::vector<std::string> *remove = nullptr;
  // The path, model, authorization, request id, `extra` and the mutation's values were checked
  // already (pipeline::Exchange checks every value of its call): only the client's headers and
  // the host are checked here.
  bool values_checked = false;
};

// Serialises the HTTP/1.1 request head for the provider: client headers minus the stripped ones,
// then `mutation` (removals, then sets that replace), then the gateway's own headers. Every value
// is checked on the way: a value a header may not hold is a 400 naming the header (for the
// model: the field "model"); nothing partial is returned.
Result<std::string> build_request_head(const UpstreamHead &h,
                                       const std::vector<HeaderView> &client_headers,
                                       const api::HeaderMutation &mutation);

} // namespace aigw::pipeline
