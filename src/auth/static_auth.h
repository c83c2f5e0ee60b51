// Credentials that need no network: API keys, SigV4 and bearer tokens handed over by a control
// plane. Applied last, over the final path and body. Shared by `aigw run` and `aigw extproc`.
// Thread-safety: a pure function (SigV4 caches its day key per thread).
#pragma once

#include "auth/aws_sigv4.h"
#include "control/snapshot.h"
#include "core/result.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aigw::auth {

enum class AuthOutcome { kDone, kNeedsToken };

// Sets `authorization` and appends headers to `extra`. kNeedsToken: the backend's credentials
// are exchanged for an OAuth token (GCP/Azure credentials): the caller fetches it. Errors (no AWS
// credentials anywhere) are 500s naming the backend, never a secret. `aws`: SigV4 signs with these
// (a per-request credentialOverride) instead of the backend's.
Result<AuthOutcome> apply_static_auth(const control::CompiledBackend &b, std::string_view method,
                                      std::string_view path, std::string_view body,
                                      int64_t unix_now, std::string &authorization,
                                      std::vector<std::pair<std::string, std::string>> &extra,
                                      const AwsCredentials *aws = nullptr);

} // namespace aigw::auth
