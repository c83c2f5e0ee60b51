// The GenAI metrics registry: upstream's names, labels and buckets, shards merged at scrape.
#include "observability/metrics.h"

#include <gtest/gtest.h>

namespace aigw::observability {
namespace {

GenAILabels labels() {
  GenAILabels l;
  l.operation = "chat";
  l.provider = "aws.bedrock";
  l.original_model = "gpt-4o";
  l.request_model = "us.amazon.nova-micro-v1:0";
  l.response_model = "";
  l.backend = "default/bedrock";
  return l;
}

TEST(Metrics, ExposesUpstreamNamesLabelsAndCumulativeBuckets) {
  Metrics m(2, {});
  api::TokenUsage u;
  u.input = 10;
  u.output = 300;
  u.reasoning = 5;
  m.record_tokens(0, labels(), u);
  m.record_tokens(1, labels(), u); // another worker, same series: merged
  m.record_request(0, labels(), 0.03, false);
  m.record_request(1, labels(), 0.5, true);
  std::string out = m.render();
  EXPECT_NE(out.find("# TYPE gen_ai_client_token_usage histogram"), std::string::npos);
  EXPECT_NE(out.find("gen_ai_client_token_usage_sum{gen_ai_backend=\"default/bedrock\","
                     "gen_ai_operation_name=\"chat\","
                     "gen_ai_original_model=\"gpt-4o\",gen_ai_provider_name=\"aws.bedrock\","
                     "gen_ai_request_model=\"us.amazon.nova-micro-v1:0\","
                     "gen_ai_response_model=\"unknown\",gen_ai_token_type=\"output\"} 600"),
            std::string::npos)
      << out;
  // 300 falls in le=1024, so le=256 has 0 and le=1024 has both records.
  EXPECT_NE(out.find("gen_ai_token_type=\"output\",le=\"256\"} 0"), std::string::npos);
  EXPECT_NE(out.find("gen_ai_token_type=\"output\",le=\"1024\"} 2"), std::string::npos);
  EXPECT_NE(out.find("gen_ai_token_type=\"output\",le=\"+Inf\"} 2"), std::string::npos);
  EXPECT_NE(out.find("gen_ai_token_type=\"reasoning\""), std::string::npos);
  EXPECT_EQ(out.find("gen_ai_token_type=\"cached_input\""), std::string::npos); // not set
  // Failures carry error_type.
  EXPECT_NE(out.find("gen_ai_server_request_duration_seconds_count{error_type=\"_OTHER\","
                     "gen_ai_backend=\"default/bedrock\","),
            std::string::npos);
  EXPECT_NE(out.find("le=\"0.04\"} 1"), std::string::npos);
  EXPECT_NE(out.find("# TYPE gen_ai_server_time_to_first_token_seconds histogram"),
            std::string::npos);
  EXPECT_NE(out.find("aigw_responses_total{code_class=\"2xx\"}"), std::string::npos);
}

TEST(Metrics, RequestHeaderAttributesBecomeLabels) {
  auto attrs = parse_header_attributes("X-Team-Id:team.id, x-user:user");
  ASSERT_EQ(attrs.size(), 2u);
  EXPECT_EQ(attrs[0].header, "x-team-id");
  EXPECT_EQ(attrs[0].label, "team_id");
  Metrics m(1, attrs);
  auto l = labels();
  l.header_values = {"blue", "ann\"e"};
  m.record_request(0, l, 0.1, false);
  std::string out = m.render();
  EXPECT_NE(out.find("team_id=\"blue\""), std::string::npos) << out;
  EXPECT_NE(out.find("user=\"ann\\\"e\""), std::string::npos); // escaped
}

TEST(Metrics, ClientChosenModelsAreCappedAndConfiguredModelsAlwaysKept) {
  Metrics m(2, parse_header_attributes("x-team:team"), 3);
  m.set_known_models(1, {"configured-model"});
  auto l = labels();
  std::vector<std::string> names;
  for (int i = 0; i < 50; ++i)
    names.push_back("client-model-" + std::to_string(i));
  std::vector<std::string> teams;
  for (int i = 0; i < 50; ++i)
    teams.push_back("team-" + std::to_string(i));
  for (int i = 0; i < 50; ++i) {
    l.original_model = names[static_cast<size_t>(i)];
    l.request_model = names[static_cast<size_t>(i)];
    l.response_model = names[static_cast<size_t>(i)];
    l.header_values = {teams[static_cast<size_t>(i)]};
    m.record_request(static_cast<size_t>(i % 2), l, 0.1, false);
  }
  l.original_model = l.request_model = l.response_model = "configured-model";
  l.header_values = {};
  m.record_request(0, l, 0.1, false);
  std::string out = m.render();
  // Three client values per label, then "_OTHER"; the configured model is there past the cap.
  EXPECT_NE(out.find("gen_ai_original_model=\"client-model-2\""), std::string::npos);
  EXPECT_EQ(out.find("gen_ai_original_model=\"client-model-3\""), std::string::npos);
  EXPECT_EQ(out.find("team=\"team-3\""), std::string::npos);
  EXPECT_NE(out.find("gen_ai_original_model=\"_OTHER\""), std::string::npos);
  EXPECT_NE(out.find("gen_ai_response_model=\"_OTHER\""), std::string::npos);
  EXPECT_NE(out.find("team=\"_OTHER\""), std::string::npos);
  EXPECT_NE(out.find("gen_ai_original_model=\"configured-model\""), std::string::npos);
  // 47 records folded, each for four labels.
  EXPECT_NE(out.find("aigw_metrics_label_overflow_total " + std::to_string(47 * 4)),
            std::string::npos)
      << out;
  size_t series = 0;
  for (size_t p = 0;
       (p = out.find("gen_ai_server_request_duration_seconds_count{", p)) != std::string::npos; ++p)
    ++series;
  EXPECT_LE(series, 5u); // three client models, _OTHER and the configured one
}

TEST(Metrics, ControlCharactersNeverReachTheExposition) {
  Metrics m(1, parse_header_attributes("x-team:team"));
  auto l = labels();
  l.header_values = {"a\rb\x01"
                     "c"};
  m.record_request(0, l, 0.1, false);
  std::string out = m.render();
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_NE(out.find("team=\"a_b_c\""), std::string::npos);
}

TEST(Metrics, BucketsAreUpstreams) {
  EXPECT_EQ(Metrics::token_buckets().back(), 67108864);
  EXPECT_EQ(Metrics::duration_buckets().front(), 0.01);
  EXPECT_EQ(Metrics::duration_buckets().back(), 81.92);
  EXPECT_EQ(Metrics::ttft_buckets().size(), 21u);
  EXPECT_EQ(Metrics::tpot_buckets().back(), 2.5);
}

} // namespace
} // namespace aigw::observability
