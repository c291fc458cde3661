// The leak audit, close() (graceful), destroy() (immediate), shutdown(), and
// calls back into the pool from inside deliver().
#include <gtest/gtest.h>

#include <string>

#include "support/pool_harness.h"

namespace cpc_test {
namespace {

using cpc::CloseReason;
using cpc::Config;
using cpc::ErrorCode;
using cpc::EventType;
using cpc::Notice;

TEST_F(PoolTest, AuditFindsNoLeakInAHealthyPool) {
  Config c;
  c.cleanup_period_ms = 60000;  // only sweep_now() audits
  start_pool(c);
  pool().warmup(origin(), "127.0.0.1", server_->port(), false, 2, nullptr);
  ASSERT_TRUE(run_until([&] { return !sink_.notices.empty(); }));
  server_->script.hold = true;
  const uint64_t aborted = send(1, "/held");  // active
  send(2, "/held-too");                       // active
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 2; }));
  Send other;
  other.id = 3;
  execute_to("http://localhost:" + std::to_string(server_->port()), server_->port(), other);
  // Now: two active sockets and one connecting one.
  EXPECT_EQ(pool().sweep_now(), 0u);
  EXPECT_TRUE(pool().abort(aborted, cpc::make_error(ErrorCode::kAborted)));
  EXPECT_EQ(pool().sweep_now(), 0u) << "a closing socket is not a leak";
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 3; }));
  server_->release(3);
  ASSERT_TRUE(wait_results(3));
  EXPECT_GE(metrics().idle_connections, 1u);
  EXPECT_EQ(pool().sweep_now(), 0u);
  run_for(1);
  EXPECT_EQ(metrics().counters.socket_leaks, 0u);
  EXPECT_EQ(sink_.count(EventType::kLeak), 0u);
}

TEST_F(PoolTest, AuditReportsAnActiveSocketThatLostItsRequest) {
  Config c;
  c.cleanup_period_ms = 60000;
  start_pool(c);
  server_->script.hold = true;
  send(1, "/in-flight");
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
  ASSERT_TRUE(pool().corrupt_one_for_test());
  EXPECT_EQ(pool().sweep_now(), 1u);
  EXPECT_EQ(metrics().counters.socket_leaks, 1u);
  ASSERT_TRUE(run_until([&] { return sink_.count(EventType::kLeak) == 1; }));
  const cpc::Event* leak = nullptr;
  uint64_t created_id = 0;
  for (const cpc::Event& e : sink_.events) {
    if (e.type == EventType::kLeak) leak = &e;
    if (e.type == EventType::kSocketCreated) created_id = e.id;
  }
  ASSERT_NE(leak, nullptr);
  EXPECT_EQ(leak->id, created_id);
  EXPECT_EQ(leak->origin, origin());
  EXPECT_EQ(leak->state, "active");
  EXPECT_FALSE(leak->detail.empty());
  // The leaked socket is closed, and the request it lost is not left hanging.
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
  ASSERT_TRUE(wait_results(1, 2000)) << "the request of the leaked socket never settled";
  EXPECT_FALSE(sink_.results[0].error.ok());
  // Found once: the next audit is clean.
  EXPECT_EQ(pool().sweep_now(), 0u);
  EXPECT_EQ(metrics().counters.socket_leaks, 1u);
}

TEST_F(PoolTest, LeaksAreCountedButNotReportedWhileEventsAreOff) {
  Config c;
  c.cleanup_period_ms = 60000;
  start_pool(c, /*events=*/false);
  server_->script.hold = true;
  send(1);
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
  ASSERT_TRUE(pool().corrupt_one_for_test());
  EXPECT_EQ(pool().sweep_now(), 1u);
  EXPECT_EQ(metrics().counters.socket_leaks, 1u);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
  EXPECT_TRUE(sink_.events.empty()) << "no event may be queued while nobody listens";
}

TEST_F(PoolTest, CorruptHookFindsNothingWithoutAnActiveSocket) {
  start_pool(Config{});
  EXPECT_FALSE(pool().corrupt_one_for_test());
  send(1);
  ASSERT_TRUE(wait_results(1));
  EXPECT_FALSE(pool().corrupt_one_for_test()) << "only idle sockets are left";
  EXPECT_EQ(pool().sweep_now(), 0u);
}

TEST_F(PoolTest, CloseWaitsForInFlightAndQueuedWorkThenNotifies) {
  Config c;
  c.max_sockets = 1;
  start_pool(c);
  server_->script.hold = true;
  send(1, "/in-flight");
  send(2, "/queued");
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
  int tag = 0;
  pool().close(&tag);
  EXPECT_TRUE(pool().closing());
  send(3, "/after-close");
  ASSERT_TRUE(wait_results(1));
  EXPECT_EQ(sink_.results[0].id, 3u);
  EXPECT_EQ(sink_.results[0].error.code, ErrorCode::kClosed);
  EXPECT_EQ(sink_.results[0].error.js_code(), "ERR_POOL_CLOSED");
  EXPECT_TRUE(sink_.notices.empty()) << "close() finished before its work did";

  server_->release(1);
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 2; }));
  EXPECT_TRUE(sink_.notices.empty());
  server_->release(1);
  ASSERT_TRUE(run_until([&] { return !sink_.notices.empty(); }));
  ASSERT_EQ(sink_.results.size(), 3u);
  EXPECT_TRUE(sink_.find(1)->error.ok()) << sink_.find(1)->error.message;
  EXPECT_TRUE(sink_.find(2)->error.ok()) << sink_.find(2)->error.message;
  EXPECT_EQ(sink_.notices[0].notice.kind, Notice::Kind::kCloseDone);
  EXPECT_EQ(sink_.notices[0].notice.user, &tag);
  EXPECT_GE(sink_.notices[0].batch, sink_.find(2)->batch);
  const cpc::MetricsSnapshot m = metrics();
  EXPECT_EQ(m.active_connections + m.idle_connections, 0u);
  EXPECT_EQ(sink_.closed_with(CloseReason::kPoolClosed), 1u);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
}

TEST_F(PoolTest, CloseClosesIdleSocketsAndNotifies) {
  start_pool(Config{});
  send(1);
  send(2);
  ASSERT_TRUE(wait_results(2));
  ASSERT_EQ(metrics().idle_connections, 2u);
  pool().close(nullptr);
  ASSERT_TRUE(run_until([&] { return !sink_.notices.empty(); }));
  EXPECT_EQ(sink_.notices[0].notice.kind, Notice::Kind::kCloseDone);
  EXPECT_EQ(sink_.closed_with(CloseReason::kPoolClosed), 2u);
  EXPECT_EQ(metrics().idle_connections, 0u);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
}

TEST_F(PoolTest, CloseOfAnEmptyPoolNotifiesOnALaterTurn) {
  start_pool(Config{});
  int a = 0, b = 0;
  pool().close(&a);
  pool().close(&b);  // every caller hears back
  EXPECT_TRUE(sink_.notices.empty()) << "close() must not settle inside the call";
  ASSERT_TRUE(run_until([&] { return sink_.notices.size() == 2; }));
  EXPECT_EQ(sink_.notices[0].notice.user, &a);
  EXPECT_EQ(sink_.notices[1].notice.user, &b);
}

TEST_F(PoolTest, DestroyFailsInFlightAndQueuedRequestsAndClosesEverySocket) {
  Config c;
  c.max_sockets = 1;
  start_pool(c);
  server_->script.hold = true;
  send(1, "/in-flight");
  send(2, "/queued");
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
  pool().destroy(cpc::make_error(ErrorCode::kAborted, "caller's reason"));
  EXPECT_TRUE(sink_.results.empty()) << "destroy() must not settle inside the call";
  ASSERT_TRUE(wait_results(2));
  for (const Result& r : sink_.results) {
    EXPECT_EQ(r.error.code, ErrorCode::kAborted) << r.id;
    EXPECT_EQ(r.error.message, "caller's reason");
  }
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
  EXPECT_EQ(sink_.closed_with(CloseReason::kPoolClosed), 1u);
  EXPECT_EQ(server_->requests().size(), 1u) << "the queued request was sent after destroy()";
  send(3);
  ASSERT_TRUE(wait_results(3));
  EXPECT_EQ(sink_.find(3)->error.code, ErrorCode::kClosed);
  const cpc::MetricsSnapshot m = metrics();
  EXPECT_EQ(m.active_connections + m.idle_connections, 0u);
  EXPECT_EQ(m.pending_requests, 0u);
}

TEST_F(PoolTest, ShutdownFailsLiveWorkClosesEverythingAndReportsCompletion) {
  Config c;
  c.max_sockets = 2;
  start_pool(c);
  send(1, "/idle-after");
  ASSERT_TRUE(wait_results(1));
  server_->script.hold = true;
  send(2, "/in-flight");
  send(3, "/second-socket");
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 3; }));
  sink_.pool->shutdown();
  ASSERT_TRUE(run_until([&] { return sink_.shutdown_complete; }));
  EXPECT_EQ(sink_.pool, nullptr) << "the sink deletes the pool in on_shutdown_complete()";
  ASSERT_EQ(sink_.results.size(), 3u);
  EXPECT_EQ(sink_.find(2)->error.code, ErrorCode::kClosed);
  EXPECT_EQ(sink_.find(3)->error.code, ErrorCode::kClosed);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
}

TEST_F(PoolTest, ShutdownOfAnUnusedPoolCompletes) {
  start_pool(Config{});
  sink_.pool->shutdown();
  ASSERT_TRUE(run_until([&] { return sink_.shutdown_complete; }));
  EXPECT_EQ(sink_.pool, nullptr);
}

TEST_F(PoolTest, CloseFromInsideDeliverIsSafe) {
  start_pool(Config{});
  int tag = 0;
  sink_.on_result = [&](const Result& r) {
    if (r.id == 1) {
      pool().close(&tag);
      send(2);  // refused: the pool is closing
    }
  };
  send(1);
  ASSERT_TRUE(run_until([&] { return !sink_.notices.empty() && sink_.results.size() == 2; }));
  EXPECT_TRUE(sink_.find(1)->error.ok());
  EXPECT_EQ(sink_.find(2)->error.code, ErrorCode::kClosed);
  EXPECT_EQ(sink_.notices[0].notice.user, &tag);
  EXPECT_EQ(metrics().idle_connections, 0u);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
}

TEST_F(PoolTest, DestroyFromInsideDeliverFailsTheOthers) {
  Config c;
  c.max_sockets = 2;
  start_pool(c);
  server_->script.hold = true;
  sink_.on_result = [&](const Result& r) {
    if (r.id == 1) pool().destroy(cpc::make_error(ErrorCode::kClosed, "done"));
  };
  send(1, "/first");
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
  send(2, "/second");
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 2; }));
  // Answer only /first (the oldest held); /second is in flight when destroy() runs.
  server_->release(1);
  ASSERT_TRUE(wait_results(2));
  EXPECT_TRUE(sink_.find(1)->error.ok());
  EXPECT_EQ(sink_.find(2)->error.code, ErrorCode::kClosed);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
}

}  // namespace
}  // namespace cpc_test
