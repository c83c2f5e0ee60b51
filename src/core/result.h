// Result<T>: the value-or-error type every fallible function returns (std::expected-shaped).
// Thread-safety: plain values; no shared state.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace aigw {

// Where an error came from; decides who is blamed in logs and whether a retry can help.
enum class ErrorSource { kClient, kUpstream, kConfig, kInternal };

struct Error {
  int code = 0; // HTTP status for request errors, 0 for config/internal errors
  ErrorSource source = ErrorSource::kInternal;
  bool retryable = false;
  std::string message;

  static Error client(int status, std::string msg) {
    return Error{status, ErrorSource::kClient, false, std::move(msg)};
  }
  static Error upstream(int status, std::string msg, bool retryable) {
    return Error{status, ErrorSource::kUpstream, retryable, std::move(msg)};
  }
  static Error config(std::string msg) {
    return Error{0, ErrorSource::kConfig, false, std::move(msg)};
  }
};

template <typename T> class [[nodiscard]] Result {
public:
  Result(T value) : v_(std::move(value)) {}     // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {} // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T &value() & { return std::get<0>(v_); }
  const T &value() const & { return std::get<0>(v_); }
  T &&value() && { return std::get<0>(std::move(v_)); }
  T *operator->() { return &std::get<0>(v_); }
  const T *operator->() const { return &std::get<0>(v_); }
  T &operator*() & { return std::get<0>(v_); }
  const T &operator*() const & { return std::get<0>(v_); }

  T value_or(T fallback) const & { return ok() ? std::get<0>(v_) : std::move(fallback); }

  // REQUIRES: !ok()
  const Error &error() const { return std::get<1>(v_); }

private:
  std::variant<T, Error> v_;
};

} // namespace aigw
