// Shared by the Pool suites: a sink that records what the pool delivers and
// a fixture that owns one fresh uv loop, one TestServer and one Pool per test.
//
// Every test ends the same way (TearDown): the pool is shut down and deleted
// inside on_shutdown_complete(), the server is closed, and uv_loop_close()
// must return 0 — nothing of the test is left on the loop.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/errors.h"
#include "core/events.h"
#include "core/pool.h"
#include "support/test_server.h"

namespace cpc_test {

// A delivered request, copied inside deliver(): the slot is recycled after.
struct Result {
  uintptr_t id = 0;  // ExecuteArgs::user
  cpc::Error error;
  uint16_t status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool reused = false;
  uint8_t attempt = 0;
  size_t batch = 0;  // which deliver() call brought it (1-based)
};

struct RecordedNotice {
  cpc::Notice notice;
  size_t batch = 0;
};

class RecordingSink : public cpc::PoolSink {
 public:
  void deliver(cpc::Request* const* done, size_t done_count, const cpc::Event* events,
               size_t event_count, const cpc::Notice* notices, size_t notice_count) override;
  void on_shutdown_complete() override;

  const Result* find(uintptr_t id) const;
  size_t count(cpc::EventType type) const;
  size_t closed_with(cpc::CloseReason reason) const;

  // Owned; deleted inside on_shutdown_complete() (the pool allows it there).
  cpc::Pool* pool = nullptr;
  bool shutdown_complete = false;
  size_t batches = 0;
  std::vector<Result> results;
  std::vector<cpc::Event> events;
  std::vector<RecordedNotice> notices;
  // Runs inside deliver() for each result, after it was recorded: lets a
  // test call back into the pool from the continuation, as the binding does.
  std::function<void(const Result&)> on_result;
};

struct Send {
  uintptr_t id = 0;
  std::string method = "GET";
  std::string target = "/";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t timeout_ms = -1;
};

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  cpc::Pool& start_pool(const cpc::Config& config, bool events = true);
  cpc::Pool& pool() { return *sink_.pool; }

  // Starts a request to the test server (origin "http://127.0.0.1:<port>").
  // Returns its handle. Every outcome, a refusal too, arrives through the sink.
  uint64_t execute(const Send& s);
  uint64_t execute_to(const std::string& origin, uint16_t port, const Send& s);
  uint64_t send(uintptr_t id, std::string target = "/", std::string method = "GET",
                std::string body = "");

  // Runs the loop (UV_RUN_ONCE) until done() holds or timeout_ms passes.
  // Returns done(). No sleeps: a ref'd deadline timer bounds every wait.
  bool run_until(const std::function<bool()>& done, uint64_t timeout_ms = 5000);
  // Lets the loop run for `ms` (timers, I/O) and returns.
  void run_for(uint64_t ms);
  bool wait_results(size_t n, uint64_t timeout_ms = 5000) {
    return run_until([&] { return sink_.results.size() >= n; }, timeout_ms);
  }
  cpc::MetricsSnapshot metrics();
  // Upper bounds on wall-clock timings only hold if the process ran: the
  // stall meter ticks every 5 ms and keeps the longest gap between ticks,
  // so a test can tell a late timer from a starved machine.
  void start_stall_meter();
  uint64_t max_stall_ms() const { return max_stall_ns_ / 1000000; }
  std::string origin() const { return origin_; }

  uv_loop_t loop_;
  std::unique_ptr<TestServer> server_;
  RecordingSink sink_;
  std::string origin_;

 private:
  static void on_deadline(uv_timer_t* t);
  static void on_prepare(uv_prepare_t* p);
  // Owned by the fixture; closed in TearDown(). deadline_.data == this.
  uv_timer_t deadline_;
  bool deadline_fired_ = false;
  // Owned by the fixture; active only inside run_until(), closed in
  // TearDown(). Stops the loop before poll once the awaited condition holds.
  uv_prepare_t waker_;
  static void on_stall_tick(uv_timer_t* t);
  // Owned by the fixture; started by start_stall_meter(), closed in
  // TearDown(). stall_meter_.data == this.
  uv_timer_t stall_meter_;
  uint64_t last_tick_ns_ = 0;
  uint64_t max_stall_ns_ = 0;
  const std::function<bool()>* waiting_for_ = nullptr;  // Borrowed; set only inside run_until().
};

// "name=value" lines of the handles still open on a loop, for failure messages.
std::string describe_open_handles(uv_loop_t* loop);

}  // namespace cpc_test
