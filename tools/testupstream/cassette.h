// go-vcr v2 cassette loading, request matching and semantic JSON comparison for testupstream.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace testupstream {

// One recorded request/response pair of a cassette.
struct Interaction {
  int index = 0;
  std::string method;
  std::string url;   // as recorded, e.g. https://api.openai.com/v1/chat/completions
  std::string path;  // path part of url
  std::string query; // raw query of url, without '?'
  std::string request_body;
  std::string request_content_type;
  int code = 200;
  std::vector<std::pair<std::string, std::string>> response_headers; // recorded order
  std::string response_body;                                         // exact recorded bytes
};

struct Cassette {
  std::string name;
  std::vector<Interaction> interactions;
};

// The parts of an incoming request that take part in matching.
struct IncomingRequest {
  std::string_view method;
  std::string_view path;  // raw request path (no query)
  std::string_view query; // raw query, without '?'
  std::string_view content_type;
  std::string_view body;
};

struct MatchResult {
  const Interaction *interaction = nullptr; // set on match
  std::string candidates_json; // on no match: JSON array explaining why each interaction failed
};

// Loads a cassette file; on failure returns false and sets `error`. Never throws.
bool load_cassette_file(const std::string &file, const std::string &name, Cassette &out,
                        std::string &error);

// Cassettes of one directory, keyed by file name without ".yaml". Single-threaded use only.
class CassetteStore {
public:
  explicit CassetteStore(std::string dir) : dir_(std::move(dir)) {}

  // Loads every *.yaml file of the directory; returns how many loaded, problems in `errors`.
  std::size_t load_all(std::vector<std::string> &errors);

  // Returns the named cassette, loading <dir>/<name>.yaml if not loaded yet; nullptr and
  // `error` when it cannot be found or parsed.
  const Cassette *get(const std::string &name, std::string &error);

  const std::string &dir() const { return dir_; }

private:
  std::string dir_;
  std::map<std::string, Cassette> cassettes_;
};

enum class JsonCompare { kEqual, kDifferent, kUnparsable };

// Compares two JSON texts semantically (object key order ignored, arrays in order, numbers
// compared by value). On kDifferent, `diff` names the first differing location, e.g.
// "$.messages[0].content: request ... != cassette ...", the two sides named as the last arguments.
JsonCompare compare_json(std::string_view request, std::string_view cassette, std::string &diff,
                         std::string_view request_name = "request",
                         std::string_view cassette_name = "cassette");

// Finds the first interaction matching method, path, query (skipped when `ignore_query`) and
// body (JSON semantically; other content types are accepted as is).
MatchResult match_interaction(const Cassette &cassette, const IncomingRequest &request,
                              bool ignore_query);

} // namespace testupstream
