// The client's MCP session, carried in its `mcp-session-id` (encrypted, see session_crypto.h), so
// that any replica or a restarted gateway serves it: the route, the subject it belongs to, and
// each backend's own session id and capabilities. The plaintext is upstream's:
//   {route}@{subject}@{backend}:{base64(backend session id)}:{capability hex},...
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::mcp {

// Capability bits, as upstream encodes them (3 lowercase hex digits).
enum Capability : uint16_t {
  kTools = 0x001,
  kToolsListChanged = 0x002,
  kPrompts = 0x004,
  kPromptsListChanged = 0x008,
  kLogging = 0x010,
  kResources = 0x020,
  kResourcesListChanged = 0x040,
  kResourcesSubscribe = 0x080,
  kCompletions = 0x100,
  kAllCapabilities = 0x1ff,
};

struct BackendSession {
  std::string backend;
  std::string session_id; // the backend's own; empty for a stateless server
  uint16_t caps = kAllCapabilities;
};

struct ClientSession {
  std::string route;
  std::string subject;
  std::vector<BackendSession> backends;

  const BackendSession *find(std::string_view backend) const {
    for (const auto &b : backends)
      if (b.backend == backend) return &b;
    return nullptr;
  }
};

std::string encode_session(const ClientSession &s);
// nullopt with `error` set when the plaintext is malformed.
std::optional<ClientSession> parse_session(std::string_view text, std::string *error);

} // namespace aigw::mcp
