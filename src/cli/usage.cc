// `aigw usage`: spend from a usage ledger (aigw run --usage-ledger files, or the Redis stream of
// --usage-ledger-redis), summed by client key, model and day.
#include "cli/commands.h"

#include "ratelimit/redis_url.h"

#include <hiredis/hiredis.h>
#include <simdjson.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::cli {
namespace {

struct Sum {
  uint64_t requests = 0, input = 0, output = 0, total = 0;
  double usd = 0;
  uint64_t unpriced = 0; // requests whose model had no price
};

void print_table(const char *title, const std::map<std::string, Sum> &rows) {
  std::printf("%s\n", title);
  std::printf("  %-40s %10s %14s %14s %14s %14s\n", "", "requests", "input_tokens", "output_tokens",
              "total_tokens", "cost_usd");
  for (const auto &[k, s] : rows)
    std::printf("  %-40s %10llu %14llu %14llu %14llu %14.6f%s\n", k.empty() ? "(none)" : k.c_str(),
                static_cast<unsigned long long>(s.requests),
                static_cast<unsigned long long>(s.input), static_cast<unsigned long long>(s.output),
                static_cast<unsigned long long>(s.total), s.usd,
                s.unpriced ? " (some unpriced)" : "");
  std::printf("\n");
}

struct Totals {
  std::map<std::string, Sum> by_key, by_model, by_day;
  Sum all;
  size_t bad = 0; // lines or entries that were not records

  void add(std::string_view time, std::string_view key, std::string_view model, const Sum &one) {
    for (Sum *s : {&by_key[std::string(key)], &by_model[std::string(model)],
                   &by_day[std::string(time.substr(0, 10))], &all}) {
      s->requests += one.requests;
      s->input += one.input;
      s->output += one.output;
      s->total += one.total;
      s->usd += one.usd;
      s->unpriced += one.unpriced;
    }
  }
};

bool read_file(const std::string &file, const std::string &since, Totals &t) {
  std::ifstream in(file);
  if (!in) {
    std::fprintf(stderr, "%s: cannot be read\n", file.c_str());
    return false;
  }
  simdjson::dom::parser parser;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    simdjson::dom::element e;
    std::string_view time, key, model;
    if (parser.parse(line).get(e) || e["time"].get_string().get(time) || time.size() < 10) {
      ++t.bad;
      continue;
    }
    if (!since.empty() && time < since) continue;
    if (e["key"].get_string().get(key)) key = {};
    if (e["model"].get_string().get(model)) model = {};
    Sum one;
    one.requests = 1;
    uint64_t v = 0;
    if (!e["input_tokens"].get_uint64().get(v)) one.input = v;
    if (!e["output_tokens"].get_uint64().get(v)) one.output = v;
    if (!e["total_tokens"].get_uint64().get(v)) one.total = v;
    double usd = 0;
    if (e["cost_usd"].get_double().get(usd)) one.unpriced = 1;
    one.usd = usd;
    t.add(time, key, model, one);
  }
  return true;
}

// One stream entry ([id, [field, value, ...]]) into the totals.
void add_entry(const redisReply &entry, const std::string &since, Totals &t) {
  if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2 ||
      entry.element[1]->type != REDIS_REPLY_ARRAY) {
    ++t.bad;
    return;
  }
  const redisReply &kv = *entry.element[1];
  std::string_view time, key, model;
  Sum one;
  one.requests = 1;
  one.unpriced = 1;
  for (size_t i = 0; i + 1 < kv.elements; i += 2) {
    std::string_view f(kv.element[i]->str, kv.element[i]->len);
    std::string_view v(kv.element[i + 1]->str, kv.element[i + 1]->len);
    auto count = [&](uint64_t &into) { std::from_chars(v.data(), v.data() + v.size(), into); };
    if (f == "time")
      time = v;
    else if (f == "key")
      key = v;
    else if (f == "model")
      model = v;
    else if (f == "input_tokens")
      count(one.input);
    else if (f == "output_tokens")
      count(one.output);
    else if (f == "total_tokens")
      count(one.total);
    else if (f == "cost_usd") {
      one.usd = std::strtod(std::string(v).c_str(), nullptr);
      one.unpriced = 0;
    }
  }
  if (time.size() < 10) {
    ++t.bad;
    return;
  }
  if (!since.empty() && time < since) return;
  t.add(time, key, model, one);
}

// The entry id after `id` ("ms-seq" → "ms-(seq+1)", "(ms+1)-0" past the last sequence), for
// XRANGE's next page.
std::string next_id(std::string_view id) {
  auto dash = id.find('-');
  uint64_t ms = 0, seq = 0;
  if (dash == std::string_view::npos ||
      std::from_chars(id.data(), id.data() + dash, ms).ec != std::errc() ||
      std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq).ec != std::errc())
    return std::string(id) + "-1";
  if (seq == UINT64_MAX) return std::to_string(ms + 1) + "-0";
  return std::to_string(ms) + "-" + std::to_string(seq + 1);
}

using Reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

Reply command(redisContext *c, const std::vector<std::string> &args) {
  std::vector<const char *> argv;
  std::vector<size_t> lens;
  for (const auto &a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply *>(
                   redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())),
               &freeReplyObject);
}

// The id of an XRANGE entry ([id, fields]), or "".
std::string entry_id(const redisReply &e) {
  if (e.type != REDIS_REPLY_ARRAY || e.elements == 0 || e.element[0]->type != REDIS_REPLY_STRING)
    return {};
  return std::string(e.element[0]->str, e.element[0]->len);
}

// Reads the stream up to its newest entry when the reading began (replicas adding faster than
// pages are read do not keep it going).
bool read_stream(const std::string &url, const std::string &stream, const std::string &since,
                 Totals &t) {
  auto where = ratelimit::parse_redis_url(url);
  if (!where) {
    std::fprintf(stderr, "--redis: \"%s\" is not redis://HOST[:PORT]\n", url.c_str());
    return false;
  }
  std::unique_ptr<redisContext, decltype(&redisFree)> c(
      redisConnectWithTimeout(where->host.c_str(), where->port, timeval{5, 0}), &redisFree);
  if (!c || c->err) {
    std::fprintf(stderr, "--redis %s: %s\n", url.c_str(), c ? c->errstr : "out of memory");
    return false;
  }
  redisSetTimeout(c.get(), timeval{30, 0});
  auto failed = [&](const Reply &r, const char *what) {
    if (r && r->type != REDIS_REPLY_ERROR) return false;
    std::fprintf(stderr, "--redis %s: %s %s: %s\n", url.c_str(), what, stream.c_str(),
                 r ? r->str : c->errstr);
    return true;
  };
  Reply last = command(c.get(), {"XREVRANGE", stream, "+", "-", "COUNT", "1"});
  if (failed(last, "XREVRANGE")) return false;
  if (last->type != REDIS_REPLY_ARRAY || last->elements == 0) {
    std::fprintf(stderr, "the stream %s holds no entries\n", stream.c_str());
    return true;
  }
  const std::string end = entry_id(*last->element[0]);
  constexpr size_t kPage = 1000;
  for (std::string start = "-"; !end.empty();) {
    Reply r = command(c.get(), {"XRANGE", stream, start, end, "COUNT", std::to_string(kPage)});
    if (failed(r, "XRANGE")) return false;
    if (r->type != REDIS_REPLY_ARRAY) return true;
    for (size_t i = 0; i < r->elements; ++i)
      add_entry(*r->element[i], since, t);
    if (r->elements < kPage) return true;
    std::string id = entry_id(*r->element[r->elements - 1]);
    if (id.empty() || id == end) return true;
    start = next_id(id);
  }
  return true;
}

} // namespace

int usage(const UsageSources &from, const std::string &by, const std::string &since) {
  if (!by.empty() && by != "key" && by != "model" && by != "day") {
    std::fprintf(stderr, "--by must be key, model or day, got \"%s\"\n", by.c_str());
    return 2;
  }
  if (from.files.empty() && from.redis_url.empty()) {
    std::fprintf(stderr, "name ledger files, or --redis for the ledger's stream\n");
    return 2;
  }
  Totals t;
  for (const auto &file : from.files)
    if (!read_file(file, since, t)) return 1;
  if (!from.redis_url.empty() && !read_stream(from.redis_url, from.stream, since, t)) return 1;
  if (by.empty() || by == "key") print_table("by key", t.by_key);
  if (by.empty() || by == "model") print_table("by model", t.by_model);
  if (by.empty() || by == "day") print_table("by day (UTC)", t.by_day);
  std::printf("total: %llu requests, %llu tokens, $%.6f\n",
              static_cast<unsigned long long>(t.all.requests),
              static_cast<unsigned long long>(t.all.total), t.all.usd);
  if (t.bad) std::fprintf(stderr, "%zu records were not ledger records and were skipped\n", t.bad);
  return 0;
}

} // namespace aigw::cli
