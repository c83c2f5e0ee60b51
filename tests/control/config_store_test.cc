#include "control/config_store.h"

#include "config_test_util.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace aigw::control {
namespace {

using namespace std::chrono_literals;

std::string config(int port, const std::string &model) {
  return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
         "metadata: {name: g, namespace: default}\n"
         "spec: {gatewayClassName: c, listeners: [{name: http, protocol: HTTP, port: " +
         std::to_string(port) + "}]}\n---\n" +
         "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIGatewayRoute\n"
         "metadata: {name: r, namespace: default}\nspec:\n  rules:\n"
         "    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: " +
         model + "}]}]\n      backendRefs: [{name: be}]\n---\n" + testing::kMinimalBackend;
}

class FileWatcherTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("aigw-watch-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "c.yaml").string();
    write(config(8100, "first"));
    auto r = load_file(path_, testing::fake_env({}), 1);
    ASSERT_NE(r.snapshot, nullptr);
    store_ = std::make_unique<ConfigStore>(r.snapshot);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write(const std::string &text) { write_to(path_, text); }
  static void write_to(const std::string &path, const std::string &text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::unique_ptr<FileWatcher> watch(std::chrono::milliseconds settle = 30ms) {
    return std::make_unique<FileWatcher>(std::vector<std::string>{path_}, testing::fake_env({}),
                                         store_.get(), 10ms, settle);
  }
  std::string model() const { return store_->current()->models.at(0).id; }
  // Waits until `done` holds, up to two seconds.
  template <typename F> bool eventually(F done) {
    for (int i = 0; i < 200 && !done(); ++i)
      std::this_thread::sleep_for(10ms);
    return done();
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<ConfigStore> store_;
};

TEST_F(FileWatcherTest, AppliesAValidEdit) {
  auto w = watch();
  write(config(8100, "second"));
  ASSERT_TRUE(eventually([&] { return store_->reloads_ok.load() == 1; }));
  EXPECT_EQ(model(), "second");
  EXPECT_EQ(store_->current()->generation, 2u);
}

TEST_F(FileWatcherTest, RefusesAnEmptyFileAndKeepsServingTheRoutes) {
  auto w = watch();
  write("");
  ASSERT_TRUE(eventually([&] { return store_->reloads_rejected.load() == 1; }));
  EXPECT_EQ(model(), "first");
  EXPECT_EQ(store_->current()->generation, 1u);
  // The next valid save is applied.
  write(config(8100, "second"));
  ASSERT_TRUE(eventually([&] { return store_->reloads_ok.load() == 1; }));
  EXPECT_EQ(model(), "second");
}

TEST_F(FileWatcherTest, RefusesAConfigurationWithoutRoutes) {
  auto w = watch();
  write(std::string("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n") +
        testing::kMinimalBackend);
  ASSERT_TRUE(eventually([&] { return store_->reloads_rejected.load() == 1; }));
  EXPECT_EQ(model(), "first");
}

TEST_F(FileWatcherTest, RefusesChangedListenerPorts) {
  auto w = watch();
  write(config(8200, "second"));
  ASSERT_TRUE(eventually([&] { return store_->reloads_rejected.load() == 1; }));
  EXPECT_EQ(model(), "first");
  EXPECT_EQ(store_->current()->listener_ports, std::vector<uint16_t>{8100});
  EXPECT_EQ(store_->reloads_ok.load(), 0u);
}

TEST_F(FileWatcherTest, WaitsForTheContentToSettleBeforeApplying) {
  // With a long settle time, a half-written file replaced within it is never loaded.
  auto w = watch(300ms);
  std::string full = config(8100, "second");
  write(full.substr(0, full.size() / 2));
  std::this_thread::sleep_for(100ms);
  write(full);
  ASSERT_TRUE(eventually([&] { return store_->reloads_ok.load() == 1; }));
  EXPECT_EQ(model(), "second");
  EXPECT_EQ(store_->reloads_rejected.load(), 0u);
}

TEST_F(FileWatcherTest, WatchesEveryPathOfAMultiPathConfiguration) {
  // The route in one file, its backend in another.
  std::string route_only = config(8100, "split");
  route_only =
      route_only.substr(0, route_only.find("---\n" + std::string(testing::kMinimalBackend)));
  std::string routes = (dir_ / "routes.yaml").string();
  std::string backends = (dir_ / "backends.yaml").string();
  write_to(routes, route_only);
  write_to(backends, testing::kMinimalBackend);
  auto r = load_files({routes, backends}, testing::fake_env({}), 1);
  ASSERT_NE(r.snapshot, nullptr);
  store_->publish(r.snapshot);
  FileWatcher w({routes, backends}, testing::fake_env({}), store_.get(), 10ms, 30ms);
  // Breaking the second file is noticed (and refused) ...
  write_to(backends, "");
  ASSERT_TRUE(eventually([&] { return store_->reloads_rejected.load() == 1; }));
  // ... and so is a valid edit of the first.
  write_to(backends, testing::kMinimalBackend);
  ASSERT_TRUE(eventually([&] { return store_->reloads_ok.load() == 1; }));
  std::string renamed = route_only;
  renamed.replace(renamed.find("split"), 5, "renamed");
  write_to(routes, renamed);
  ASSERT_TRUE(eventually([&] { return store_->reloads_ok.load() == 2; }));
  EXPECT_EQ(model(), "renamed");
}

} // namespace
} // namespace aigw::control
