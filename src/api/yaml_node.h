// A cursor over a yaml-cpp node that remembers its field path ("spec.rules[0].name") and collects
// errors that name the resource, the path and what is wrong. The only file that touches yaml-cpp's
// typed accessors, so its exceptions are caught in one place.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aigw::api {

class Diagnostics {
public:
  void error(std::string msg) { errors_.push_back(std::move(msg)); }
  void warning(std::string msg) { warnings_.push_back(std::move(msg)); }
  const std::vector<std::string> &errors() const { return errors_; }
  const std::vector<std::string> &warnings() const { return warnings_; }
  bool ok() const { return errors_.empty(); }

private:
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
};

// The number of nodes in `node` once aliases are expanded, counting no further than `limit`
// (then returns limit + 1). yaml-cpp shares an aliased node rather than copying it, so a
// "billion laughs" document parses quickly and only explodes when something walks or prints
// it: loaders call this first, and refuse a document above the limit.
size_t expanded_node_count(const YAML::Node &node, size_t limit);

// The most nodes a YAML text of `bytes` bytes may expand to. Without aliases a node takes at
// least a couple of bytes, so a real configuration stays far below; with this limit an alias
// bomb can amplify its size tenfold at most, not into gigabytes.
inline size_t max_expanded_yaml_nodes(size_t bytes) { return 100'000 + 10 * bytes; }

class Field {
public:
  // `resource` is e.g. "AIGatewayRoute default/my-route" and prefixes every message.
  Field(YAML::Node node, std::string resource, std::string path, Diagnostics *diag)
      : node_(std::move(node)), resource_(std::move(resource)), path_(std::move(path)),
        diag_(diag) {}

  bool present() const { return node_.IsDefined() && !node_.IsNull(); }
  Field operator[](const char *key) const;
  Field at(size_t index) const;
  size_t size() const; // elements of a sequence; 0 (and an error) for other kinds
  bool is_map() const { return node_.IsDefined() && node_.IsMap(); }
  bool is_sequence() const { return node_.IsDefined() && node_.IsSequence(); }

  // Typed reads. A missing field yields nullopt; a present field of the wrong type yields nullopt
  // and an error.
  std::optional<std::string> str() const;
  std::optional<int64_t> integer(int64_t min, int64_t max) const;
  std::optional<bool> boolean() const;
  std::string str_or(std::string fallback) const { return str().value_or(std::move(fallback)); }
  std::optional<std::string> required_str() const; // error when missing or empty
  std::vector<std::string> map_keys() const;

  void fail(const std::string &what) const;
  void warn(const std::string &what) const;
  const std::string &path() const { return path_; }
  const YAML::Node &node() const { return node_; }

private:
  YAML::Node node_;
  std::string resource_;
  std::string path_;
  Diagnostics *diag_;
};

} // namespace aigw::api
