// `aigw usage`: spend from a usage ledger (aigw run --usage-ledger), summed by client key, model
// and day.
#include "cli/commands.h"

#include <simdjson.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

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

} // namespace

int usage(const std::vector<std::string> &files, const std::string &by, const std::string &since) {
  if (!by.empty() && by != "key" && by != "model" && by != "day") {
    std::fprintf(stderr, "--by must be key, model or day, got \"%s\"\n", by.c_str());
    return 2;
  }
  std::map<std::string, Sum> by_key, by_model, by_day;
  Sum all;
  size_t bad = 0;
  simdjson::dom::parser parser;
  for (const auto &file : files) {
    std::ifstream in(file);
    if (!in) {
      std::fprintf(stderr, "%s: cannot be read\n", file.c_str());
      return 1;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      simdjson::dom::element e;
      std::string_view time, key, model;
      if (parser.parse(line).get(e) || e["time"].get_string().get(time) || time.size() < 10) {
        ++bad;
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
  }
  if (by.empty() || by == "key") print_table("by key", by_key);
  if (by.empty() || by == "model") print_table("by model", by_model);
  if (by.empty() || by == "day") print_table("by day (UTC)", by_day);
  std::printf("total: %llu requests, %llu tokens, $%.6f\n",
              static_cast<unsigned long long>(all.requests),
              static_cast<unsigned long long>(all.total), all.usd);
  if (bad) std::fprintf(stderr, "%zu lines were not ledger records and were skipped\n", bad);
  return 0;
}

} // namespace aigw::cli
