// Implements go-vcr cassette loading (yaml-cpp), semantic JSON comparison (simdjson) and matching.
#include "cassette.h"

#include "support.h"

#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <system_error>

namespace testupstream {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string scalar_or_empty(const YAML::Node &node) {
  if (!node || !node.IsScalar()) {
    return {};
  }
  return node.Scalar();
}

// Values of a go-vcr header entry: a sequence of scalars, or a single scalar.
std::vector<std::string> header_values(const YAML::Node &node) {
  std::vector<std::string> out;
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      out.push_back(scalar_or_empty(node[i]));
    }
  } else if (node.IsScalar()) {
    out.push_back(node.Scalar());
  }
  return out;
}

// Splits a recorded URL into path and raw query, dropping scheme and authority.
void split_url(std::string_view url, std::string &path, std::string &query) {
  if (const auto scheme = url.find("://"); scheme != std::string_view::npos) {
    const auto slash = url.find('/', scheme + 3);
    url = slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
  }
  if (const auto hash = url.find('#'); hash != std::string_view::npos) {
    url = url.substr(0, hash);
  }
  const auto q = url.find('?');
  path = std::string(url.substr(0, q));
  query = q == std::string_view::npos ? std::string() : std::string(url.substr(q + 1));
  if (path.empty()) {
    path = "/";
  }
}

std::vector<std::string_view> sorted_params(std::string_view query) {
  std::vector<std::string_view> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    if (!part.empty()) {
      out.push_back(part);
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query = query.substr(amp + 1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool is_json_type(std::string_view content_type) {
  return lower(content_type).find("application/json") != std::string::npos;
}

std::string render(simdjson::dom::element el) {
  std::string s = simdjson::minify(el);
  if (s.size() > 160) {
    s.resize(157);
    s += "...";
  }
  return s;
}

std::string_view type_name(simdjson::dom::element_type t) {
  using T = simdjson::dom::element_type;
  switch (t) {
  case T::ARRAY: return "array";
  case T::OBJECT: return "object";
  case T::INT64:
  case T::UINT64:
  case T::DOUBLE: return "number";
  case T::STRING: return "string";
  case T::BOOL: return "bool";
  case T::NULL_VALUE: return "null";
  }
  return "unknown";
}

bool is_number(simdjson::dom::element_type t) {
  using T = simdjson::dom::element_type;
  return t == T::INT64 || t == T::UINT64 || t == T::DOUBLE;
}

bool numbers_equal(simdjson::dom::element a, simdjson::dom::element b) {
  using T = simdjson::dom::element_type;
  const T ta = a.type();
  const T tb = b.type();
  if (ta != T::DOUBLE && tb != T::DOUBLE) {
    if (ta == tb) {
      if (ta == T::INT64) {
        return a.get_int64().value_unsafe() == b.get_int64().value_unsafe();
      }
      return a.get_uint64().value_unsafe() == b.get_uint64().value_unsafe();
    }
    // One INT64 and one UINT64: simdjson only uses UINT64 above INT64_MAX, so never equal.
    return false;
  }
  return a.get_double().value_unsafe() == b.get_double().value_unsafe();
}

// `an` and `bn` name the two sides of `a` and `b` in `diff`.
bool json_equal(simdjson::dom::element a, simdjson::dom::element b, const std::string &path,
                std::string &diff, std::string_view an, std::string_view bn) {
  const std::string a_side(an);
  const std::string b_side(bn);
  using T = simdjson::dom::element_type;
  if (is_number(a.type()) && is_number(b.type())) {
    if (!numbers_equal(a, b)) {
      diff = path + ": " + a_side + " " + render(a) + " != " + b_side + " " + render(b);
      return false;
    }
    return true;
  }
  if (a.type() != b.type()) {
    diff = path + ": " + a_side + " has " + std::string(type_name(a.type())) + " " + render(a) +
           ", " + b_side + " has " + std::string(type_name(b.type())) + " " + render(b);
    return false;
  }
  switch (a.type()) {
  case T::ARRAY: {
    simdjson::dom::array aa;
    simdjson::dom::array ba;
    if (a.get(aa) || b.get(ba)) {
      diff = path + ": unreadable array";
      return false;
    }
    if (aa.size() != ba.size()) {
      diff = path + ": " + a_side + " array has " + std::to_string(aa.size()) + " elements, " +
             b_side + " array has " + std::to_string(ba.size());
      return false;
    }
    std::size_t i = 0;
    auto bit = ba.begin();
    for (simdjson::dom::element ae : aa) {
      if (!json_equal(ae, *bit, path + "[" + std::to_string(i) + "]", diff, an, bn)) {
        return false;
      }
      ++bit;
      ++i;
    }
    return true;
  }
  case T::OBJECT: {
    simdjson::dom::object ao;
    simdjson::dom::object bo;
    if (a.get(ao) || b.get(bo)) {
      diff = path + ": unreadable object";
      return false;
    }
    for (const auto field : ao) {
      simdjson::dom::element bv;
      const std::string child = path + "." + std::string(field.key);
      if (bo.at_key(field.key).get(bv)) {
        diff = child + ": present in " + a_side + " (" + render(field.value) + "), missing in " +
               b_side;
        return false;
      }
      if (!json_equal(field.value, bv, child, diff, an, bn)) {
        return false;
      }
    }
    for (const auto field : bo) {
      simdjson::dom::element av;
      if (ao.at_key(field.key).get(av)) {
        diff = path + "." + std::string(field.key) + ": missing in " + a_side + ", " + b_side +
               " has " + render(field.value);
        return false;
      }
    }
    return true;
  }
  case T::STRING: {
    std::string_view as;
    std::string_view bs;
    if (a.get(as) || b.get(bs) || as != bs) {
      diff = path + ": " + a_side + " " + render(a) + " != " + b_side + " " + render(b);
      return false;
    }
    return true;
  }
  case T::BOOL: {
    bool ab = false;
    bool bb = false;
    if (a.get(ab) || b.get(bb) || ab != bb) {
      diff = path + ": " + a_side + " " + render(a) + " != " + b_side + " " + render(b);
      return false;
    }
    return true;
  }
  case T::NULL_VALUE: return true;
  default: diff = path + ": unsupported JSON value"; return false;
  }
}

// Why `request` does not match `it`; empty when it matches.
std::string mismatch_reason(const Interaction &it, const IncomingRequest &request,
                            bool ignore_query) {
  if (request.method != it.method) {
    return "method: request " + std::string(request.method) + ", cassette " + it.method;
  }
  if (request.path != it.path) {
    return "path: request " + std::string(request.path) + ", cassette " + it.path;
  }
  if (!ignore_query && sorted_params(request.query) != sorted_params(it.query)) {
    return "query: request \"" + std::string(request.query) + "\", cassette \"" + it.query + "\"";
  }
  if (is_json_type(request.content_type) || is_json_type(it.request_content_type)) {
    std::string diff;
    switch (compare_json(request.body, it.request_body, diff)) {
    case JsonCompare::kEqual: return {};
    case JsonCompare::kDifferent: return "body: " + diff;
    case JsonCompare::kUnparsable:
      if (request.body == it.request_body) {
        return {};
      }
      return "body: not valid JSON on one side and not byte-identical (request " +
             std::to_string(request.body.size()) + " bytes, cassette " +
             std::to_string(it.request_body.size()) + " bytes)";
    }
  }
  return {}; // non-JSON bodies (multipart uploads) are accepted loosely
}

} // namespace

bool load_cassette_file(const std::string &file, const std::string &name, Cassette &out,
                        std::string &error) {
  try {
    const YAML::Node root = YAML::LoadFile(file);
    const YAML::Node interactions = root["interactions"];
    if (!interactions || !interactions.IsSequence()) {
      error = file + ": no 'interactions' sequence";
      return false;
    }
    Cassette cassette;
    cassette.name = name;
    int ordinal = 0;
    for (const YAML::Node &node : interactions) {
      Interaction it;
      it.index = node["id"] ? node["id"].as<int>() : ordinal;
      ++ordinal;
      const YAML::Node request = node["request"];
      const YAML::Node response = node["response"];
      if (!request || !response) {
        error = file + ": interaction " + std::to_string(it.index) + " lacks request/response";
        return false;
      }
      it.method = scalar_or_empty(request["method"]);
      it.url = scalar_or_empty(request["url"]);
      split_url(it.url, it.path, it.query);
      it.request_body = scalar_or_empty(request["body"]);
      if (const YAML::Node headers = request["headers"]; headers && headers.IsMap()) {
        for (const auto &kv : headers) {
          const YAML::Node key = kv.first;
          const YAML::Node values = kv.second; // copy: never bind to iterator proxies
          if (lower(scalar_or_empty(key)) == "content-type") {
            const std::vector<std::string> all = header_values(values);
            it.request_content_type = all.empty() ? std::string() : all.front();
          }
        }
      }
      it.code = response["code"] ? response["code"].as<int>() : 0;
      if (it.code == 0) {
        it.code = std::atoi(scalar_or_empty(response["status"]).c_str());
      }
      if (it.code < 100 || it.code > 999) {
        it.code = 200;
      }
      it.response_body = scalar_or_empty(response["body"]);
      if (const YAML::Node headers = response["headers"]; headers && headers.IsMap()) {
        for (const auto &kv : headers) {
          const YAML::Node key = kv.first;
          const YAML::Node values = kv.second;
          for (std::string &value : header_values(values)) {
            it.response_headers.emplace_back(scalar_or_empty(key), std::move(value));
          }
        }
      }
      cassette.interactions.push_back(std::move(it));
    }
    out = std::move(cassette);
    return true;
  } catch (const std::exception &e) {
    error = file + ": " + e.what();
    return false;
  } catch (...) {
    error = file + ": unknown error";
    return false;
  }
}

std::size_t CassetteStore::load_all(std::vector<std::string> &errors) {
  std::error_code ec;
  std::size_t loaded = 0;
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const auto &p = it->path();
    if (p.extension() != ".yaml") {
      continue;
    }
    Cassette cassette;
    std::string error;
    if (load_cassette_file(p.string(), p.stem().string(), cassette, error)) {
      cassettes_[cassette.name] = std::move(cassette);
      ++loaded;
    } else {
      errors.push_back(error);
    }
  }
  if (ec) {
    errors.push_back(dir_ + ": " + ec.message());
  }
  return loaded;
}

const Cassette *CassetteStore::get(const std::string &name, std::string &error) {
  if (const auto it = cassettes_.find(name); it != cassettes_.end()) {
    return &it->second;
  }
  if (name.empty() || name.find('/') != std::string::npos || name.find('\\') != std::string::npos ||
      name.find("..") != std::string::npos) {
    error = "invalid cassette name";
    return nullptr;
  }
  const std::filesystem::path file = std::filesystem::path(dir_) / (name + ".yaml");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    error = "no cassette file " + file.string();
    return nullptr;
  }
  Cassette cassette;
  if (!load_cassette_file(file.string(), name, cassette, error)) {
    return nullptr;
  }
  return &(cassettes_[name] = std::move(cassette));
}

JsonCompare compare_json(std::string_view request, std::string_view cassette, std::string &diff,
                         std::string_view request_name, std::string_view cassette_name) {
  simdjson::dom::parser request_parser;
  simdjson::dom::parser cassette_parser;
  const simdjson::padded_string request_text(request);
  const simdjson::padded_string cassette_text(cassette);
  simdjson::dom::element a;
  simdjson::dom::element b;
  if (request_parser.parse(request_text).get(a) || cassette_parser.parse(cassette_text).get(b)) {
    return JsonCompare::kUnparsable;
  }
  return json_equal(a, b, "$", diff, request_name, cassette_name) ? JsonCompare::kEqual
                                                                  : JsonCompare::kDifferent;
}

MatchResult match_interaction(const Cassette &cassette, const IncomingRequest &request,
                              bool ignore_query) {
  MatchResult result;
  std::string candidates = "[";
  for (const Interaction &it : cassette.interactions) {
    const std::string reason = mismatch_reason(it, request, ignore_query);
    if (reason.empty()) {
      result.interaction = &it;
      return result;
    }
    if (candidates.size() > 1) {
      candidates += ",";
    }
    candidates += "{\"interaction\":" + std::to_string(it.index) +
                  ",\"method\":" + json_quote(it.method) + ",\"url\":" + json_quote(it.url) +
                  ",\"mismatch\":" + json_quote(reason) + "}";
  }
  result.candidates_json = candidates + "]";
  return result;
}

} // namespace testupstream
