// The standalone host's side of OAuth tokens: performs the token request an auth::TokenSource
// describes, over the worker's provider pool, within `deadline`.
#pragma once

#include "auth/token_source.h"
#include "proxy/upstream.h"

#include <chrono>

namespace aigw::proxy {

// POSTs a form to `url` (or GETs it when `form` is null) over the worker's pool, within
// `deadline`: the status and the body (at most 1 MiB).
net::awaitable<Result<std::pair<int, std::string>>>
http_request(UpstreamPool &pool, const std::string &url, const std::string *form,
             std::chrono::steady_clock::time_point deadline);

// http_request's GET on a private event loop, for command-line tools: blocks up to `timeout`.
Result<std::pair<int, std::string>> http_get_blocking(const std::string &url,
                                                      std::chrono::milliseconds timeout);

// A bearer token for `backend` (GCPCredentials or AzureCredentials), cached or fetched. Errors
// are 5xx-shaped and never carry secret material.
net::awaitable<Result<std::string>> fetch_token(auth::TokenSource &source,
                                                const control::CompiledBackend &backend,
                                                UpstreamPool &pool,
                                                std::chrono::steady_clock::time_point deadline);

} // namespace aigw::proxy
