// Field-path-aware YAML access; see yaml_node.h.
#include "api/yaml_node.h"

#include <charconv>
#include <vector>

namespace aigw::api {

size_t expanded_node_count(const YAML::Node &node, size_t limit) {
  // Iterative, so a deeply nested document cannot exhaust the stack either.
  std::vector<YAML::Node> stack{node};
  size_t count = 0;
  while (!stack.empty()) {
    YAML::Node n = std::move(stack.back());
    stack.pop_back();
    if (++count > limit) return limit + 1;
    if (n.IsSequence()) {
      for (const auto &child : n)
        stack.push_back(child);
    } else if (n.IsMap()) {
      for (const auto &kv : n) {
        stack.push_back(kv.first);
        stack.push_back(kv.second);
      }
    }
  }
  return count;
}

Field Field::operator[](const char *key) const {
  std::string sub = path_.empty() ? key : path_ + "." + key;
  // Missing keys yield yaml-cpp "zombie" nodes that throw on most calls: only IsDefined() is
  // safe on them, so check it before anything else.
  if (!node_.IsDefined() || !node_.IsMap())
    return Field(YAML::Node(YAML::NodeType::Undefined), resource_, std::move(sub), diag_);
  const YAML::Node &cnode = node_;
  YAML::Node child = cnode[key];
  if (!child.IsDefined())
    return Field(YAML::Node(YAML::NodeType::Undefined), resource_, std::move(sub), diag_);
  return Field(child, resource_, std::move(sub), diag_);
}

Field Field::at(size_t index) const {
  std::string sub = path_ + "[" + std::to_string(index) + "]";
  if (!node_.IsDefined() || !node_.IsSequence() || index >= node_.size())
    return Field(YAML::Node(YAML::NodeType::Undefined), resource_, std::move(sub), diag_);
  return Field(node_[index], resource_, std::move(sub), diag_);
}

size_t Field::size() const {
  if (!present()) return 0;
  if (!node_.IsSequence()) {
    fail("must be a list");
    return 0;
  }
  return node_.size();
}

std::optional<std::string> Field::str() const {
  if (!present()) return std::nullopt;
  if (!node_.IsScalar()) {
    fail("must be a string");
    return std::nullopt;
  }
  return node_.Scalar();
}

std::optional<std::string> Field::required_str() const {
  if (!present()) {
    fail("is required");
    return std::nullopt;
  }
  auto s = str();
  if (s && s->empty()) {
    fail("must not be empty");
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> Field::integer(int64_t min, int64_t max) const {
  if (!present()) return std::nullopt;
  if (!node_.IsScalar()) {
    fail("must be an integer");
    return std::nullopt;
  }
  const std::string &s = node_.Scalar();
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    fail("must be an integer, got \"" + s + "\"");
    return std::nullopt;
  }
  if (v < min || v > max) {
    fail("must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Field::boolean() const {
  if (!present()) return std::nullopt;
  if (node_.IsScalar()) {
    const std::string &s = node_.Scalar();
    if (s == "true" || s == "True") return true;
    if (s == "false" || s == "False") return false;
  }
  fail("must be true or false");
  return std::nullopt;
}

std::vector<std::string> Field::map_keys() const {
  std::vector<std::string> keys;
  if (!present()) return keys;
  if (!node_.IsMap()) {
    fail("must be a map");
    return keys;
  }
  for (const auto &kv : node_) {
    if (kv.first.IsScalar()) keys.push_back(kv.first.Scalar());
  }
  return keys;
}

void Field::fail(const std::string &what) const {
  diag_->error(resource_ + ": " + (path_.empty() ? "" : path_ + ": ") + what);
}

void Field::warn(const std::string &what) const {
  diag_->warning(resource_ + ": " + (path_.empty() ? "" : path_ + ": ") + what);
}

} // namespace aigw::api
