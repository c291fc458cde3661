// Pool scheduling against a real socket on the test's loop: reuse, LIFO and
// FIFO, maxSockets and the FIFO queue, maxFreeSockets, idle expiry and the
// Keep-Alive hint, keepAlive: false, per-socket budgets, maxTotalSockets,
// warmup, and sockets the server closes or talks on while idle.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "support/pool_harness.h"

namespace cpc_test {
namespace {

using cpc::CloseReason;
using cpc::Config;
using cpc::EventType;

// The server's record of the request for `target`.
const ServerRequest* request_for(const TestServer& s, const std::string& target) {
  for (const ServerRequest& r : s.requests()) {
    if (r.target == target) return &r;
  }
  return nullptr;
}

TEST_F(PoolTest, ReusesOneSocketForFiftySequentialRequests) {
  start_pool(Config{});
  for (uintptr_t i = 1; i <= 50; i++) {
    send(i, "/r" + std::to_string(i));
    ASSERT_TRUE(wait_results(i)) << "request " << i << " never completed";
    const Result& r = sink_.results.back();
    ASSERT_TRUE(r.error.ok()) << r.error.message;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "/r" + std::to_string(i));  // its own answer, not another's
    EXPECT_EQ(r.reused, i > 1);
  }
  EXPECT_EQ(server_->connections().size(), 1u);
  EXPECT_EQ(server_->requests().size(), 50u);
  const cpc::MetricsSnapshot m = metrics();
  EXPECT_EQ(m.counters.total_connections, 1u);
  EXPECT_EQ(m.counters.total_requests, 50u);
  EXPECT_EQ(m.counters.completed_requests, 50u);
  EXPECT_EQ(m.counters.failed_requests, 0u);
  EXPECT_EQ(m.counters.new_connections, 1u);
  EXPECT_EQ(m.counters.reused_connections, 49u);
  EXPECT_DOUBLE_EQ(m.socket_reuse_percentage, 98.0);
  EXPECT_EQ(m.idle_connections, 1u);
  EXPECT_EQ(m.active_connections, 0u);
  EXPECT_EQ(m.pending_requests, 0u);
  EXPECT_EQ(sink_.count(EventType::kSocketCreated), 1u);
  EXPECT_EQ(sink_.count(EventType::kSocketReused), 49u);
  EXPECT_EQ(sink_.count(EventType::kSocketClosed), 0u);
  EXPECT_EQ(sink_.events.back().uses, 50u);
}

struct IdleChoice {
  uint16_t first_released = 0;  // client ports, as the server saw them
  uint16_t last_released = 0;
  uint16_t chosen = 0;
};

class PoolSchedulingTest : public PoolTest {
 protected:
  // Opens two sockets with two concurrent requests, lets both go idle, then
  // sends a third and reports which socket it went to.
  IdleChoice choose_between_two_idle_sockets() {
    IdleChoice c;
    send(1, "/a");
    send(2, "/b");
    EXPECT_TRUE(wait_results(2));
    EXPECT_EQ(server_->connections().size(), 2u);
    // Results arrive in release order: a socket is filed idle, then its
    // request is queued for delivery.
    const std::string first = sink_.results[0].id == 1 ? "/a" : "/b";
    const std::string last = first == "/a" ? "/b" : "/a";
    c.first_released = server_->connections()[request_for(*server_, first)->conn].peer_port;
    c.last_released = server_->connections()[request_for(*server_, last)->conn].peer_port;
    send(3, "/c");
    EXPECT_TRUE(wait_results(3));
    EXPECT_TRUE(sink_.results[2].reused);
    EXPECT_EQ(server_->connections().size(), 2u) << "the third request must reuse a socket";
    c.chosen = server_->connections()[request_for(*server_, "/c")->conn].peer_port;
    return c;
  }
};

TEST_F(PoolSchedulingTest, LifoReusesTheMostRecentlyReleasedSocket) {
  Config c;
  c.scheduling = cpc::Scheduling::kLifo;
  start_pool(c);
  IdleChoice got = choose_between_two_idle_sockets();
  ASSERT_NE(got.first_released, got.last_released);
  EXPECT_EQ(got.chosen, got.last_released);
}

TEST_F(PoolSchedulingTest, FifoReusesTheLeastRecentlyReleasedSocket) {
  Config c;
  c.scheduling = cpc::Scheduling::kFifo;
  start_pool(c);
  IdleChoice got = choose_between_two_idle_sockets();
  ASSERT_NE(got.first_released, got.last_released);
  EXPECT_EQ(got.chosen, got.first_released);
}

TEST_F(PoolTest, MaxSocketsCapsConnectionsAndServesTheQueueInOrder) {
  Config c;
  c.max_sockets = 2;
  start_pool(c);
  server_->script.hold = true;
  for (uintptr_t i = 0; i < 6; i++) send(i + 1, "/" + std::to_string(i));
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 2; }));
  EXPECT_EQ(server_->connections().size(), 2u);
  std::set<std::string> first_two{server_->requests()[0].target, server_->requests()[1].target};
  EXPECT_EQ(first_two, (std::set<std::string>{"/0", "/1"}));
  cpc::MetricsSnapshot m = metrics();
  ASSERT_EQ(m.origins.size(), 1u);
  EXPECT_EQ(m.origins[0].pending, 4u);
  EXPECT_EQ(m.origins[0].total, 2u);
  EXPECT_EQ(m.active_connections, 2u);
  // Each answer frees a socket, which goes to the oldest waiter.
  for (size_t next = 2; next < 6; next++) {
    ASSERT_EQ(server_->release(1), 1u);
    ASSERT_TRUE(run_until([&] { return server_->requests().size() == next + 1; }));
    EXPECT_EQ(server_->requests()[next].target, "/" + std::to_string(next));
    EXPECT_LE(server_->open_connections(), 2u);
  }
  EXPECT_EQ(server_->release(2), 2u);
  ASSERT_TRUE(wait_results(6));
  for (const Result& r : sink_.results) EXPECT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(server_->connections().size(), 2u);
  EXPECT_EQ(server_->max_open_connections(), 2u);
  EXPECT_EQ(metrics().counters.total_connections, 2u);
}

TEST_F(PoolTest, MaxFreeSocketsClosesExtraIdleSocketsAfterABurst) {
  Config c;
  c.max_free_sockets = 1;
  start_pool(c);
  for (uintptr_t i = 1; i <= 3; i++) send(i, "/" + std::to_string(i));
  ASSERT_TRUE(wait_results(3));
  for (const Result& r : sink_.results) EXPECT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(server_->connections().size(), 3u);
  ASSERT_TRUE(run_until([&] { return sink_.closed_with(CloseReason::kMaxFree) == 2; }));
  EXPECT_EQ(metrics().idle_connections, 1u);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 1; }));
  EXPECT_EQ(sink_.count(EventType::kSocketClosed), 2u);
}

TEST_F(PoolTest, SweepClosesASocketIdleLongerThanFreeSocketTimeout) {
  Config c;
  c.free_socket_timeout_ms = 150;  // roomy: valgrind runs this too
  c.cleanup_period_ms = 60000;  // only sweep_now() sweeps
  start_pool(c);
  send(1);
  ASSERT_TRUE(wait_results(1));
  // A sweep right after the socket went idle leaves it alone (closing is
  // synchronous: a closed socket would have left the free list already).
  EXPECT_EQ(pool().sweep_now(), 0u);
  EXPECT_EQ(metrics().idle_connections, 1u) << "closed before its idle time was up";
  // Sweep on every loop turn until the socket has expired; the 5 ms tick of
  // the stall meter wakes the loop so the condition is re-checked.
  start_stall_meter();
  uint64_t leaks = 0;
  ASSERT_TRUE(run_until([&] {
    if (metrics().idle_connections == 0) return true;
    leaks += pool().sweep_now();
    return metrics().idle_connections == 0;
  })) << "sweep_now() never expired the idle socket";
  EXPECT_EQ(leaks, 0u) << "the idle socket is expired, not leaked";
  ASSERT_TRUE(run_until([&] { return sink_.count(EventType::kSocketClosed) == 1; }));
  EXPECT_EQ(sink_.closed_with(CloseReason::kIdleTimeout), 1u);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
  EXPECT_EQ(sink_.count(EventType::kSocketClosed), 1u) << "the early sweep closed nothing";
}

// The sweep runs only every cleanupPeriodMs; between sweeps an expired
// socket must still never be handed out (it is exactly the one the server is
// closing). The sweep here is a minute away, so only take_idle() can notice.
class IdleExpiryOnReuseTest : public PoolTest {
 protected:
  // One request, then the loop runs (on a timer of its own) until the idle
  // socket is `expire_after_ms` old; the second request must not reuse it.
  void expect_expired_socket_is_not_reused(uint64_t expire_after_ms, CloseReason reason) {
    uint64_t idle_at = 0;  // read inside deliver(): the loop time it was filed idle
    sink_.on_result = [&](const Result&) { idle_at = uv_now(&loop_); };
    send(1, "/one");
    ASSERT_TRUE(wait_results(1));
    ASSERT_TRUE(sink_.results[0].error.ok()) << sink_.results[0].error.message;
    sink_.on_result = nullptr;
    ASSERT_EQ(metrics().idle_connections, 1u);
    // The fixture's deadline timer ends this wait once the loop clock has
    // passed the socket's deadline; nothing else is awaited.
    EXPECT_TRUE(run_until([&] { return uv_now(&loop_) >= idle_at + expire_after_ms; },
                          expire_after_ms + 50));
    ASSERT_EQ(metrics().idle_connections, 1u) << "the sweep ran: this test proves nothing";
    ASSERT_EQ(sink_.count(EventType::kSocketClosed), 0u);
    send(2, "/two");
    ASSERT_TRUE(wait_results(2));
    const Result& r = sink_.results[1];
    ASSERT_TRUE(r.error.ok()) << r.error.message;
    EXPECT_EQ(r.body, "/two");
    EXPECT_FALSE(r.reused) << "an expired idle socket was reused";
    EXPECT_EQ(r.attempt, 0u);
    EXPECT_EQ(server_->connections().size(), 2u);
    EXPECT_EQ(server_->connections()[0].requests, 1u);
    EXPECT_EQ(sink_.closed_with(reason), 1u);
    EXPECT_EQ(sink_.count(EventType::kSocketClosed), 1u);
    ASSERT_TRUE(run_until([&] { return server_->open_connections() == 1; }));
  }
};

TEST_F(IdleExpiryOnReuseTest, SocketPastFreeSocketTimeoutIsClosedInsteadOfReused) {
  Config c;
  c.free_socket_timeout_ms = 100;
  c.cleanup_period_ms = 60000;
  start_pool(c);
  expect_expired_socket_is_not_reused(100, CloseReason::kIdleTimeout);
}

TEST_F(IdleExpiryOnReuseTest, SocketPastMaxSocketLifetimeIsClosedInsteadOfReused) {
  Config c;
  c.max_socket_lifetime_ms = 100;
  c.cleanup_period_ms = 60000;
  start_pool(c);
  expect_expired_socket_is_not_reused(100, CloseReason::kLifetime);
}

TEST_F(PoolTest, SocketPastItsKeepAliveHintIsClosedInsteadOfReused) {
  Config c;
  c.free_socket_timeout_ms = 60000;
  c.cleanup_period_ms = 60000;
  start_pool(c);
  // timeout=1: the socket may idle 750 ms (the hint minus a quarter).
  server_->script.respond = [](const ServerRequest& r) {
    return http_response(r.target, 200, "Keep-Alive: timeout=1\r\n");
  };
  uint64_t idle_at = 0;
  sink_.on_result = [&](const Result&) { idle_at = uv_now(&loop_); };
  send(1, "/one");
  ASSERT_TRUE(wait_results(1));
  sink_.on_result = nullptr;
  EXPECT_TRUE(run_until([&] { return uv_now(&loop_) >= idle_at + 750; }, 800));
  ASSERT_EQ(metrics().idle_connections, 1u);
  send(2, "/two");
  ASSERT_TRUE(wait_results(2));
  ASSERT_TRUE(sink_.results[1].error.ok()) << sink_.results[1].error.message;
  EXPECT_FALSE(sink_.results[1].reused);
  EXPECT_EQ(server_->connections().size(), 2u);
  EXPECT_EQ(sink_.closed_with(CloseReason::kIdleTimeout), 1u);
}

// The event types in delivery order, for order checks.
std::vector<EventType> event_types(const RecordingSink& sink) {
  std::vector<EventType> out;
  for (const cpc::Event& e : sink.events) out.push_back(e.type);
  return out;
}

TEST_F(PoolTest, PeriodicSweepClosesAnIdleSocketAfterItsTimeout) {
  Config c;
  c.free_socket_timeout_ms = 50;
  c.cleanup_period_ms = 10;
  start_pool(c);
  // The second request is sent from inside the delivery of the first, the
  // turn the socket went idle: long before its idle time is up, so it must
  // reuse the socket. Then only the periodic sweep (no sweep_now()) can
  // close it, as idle-timeout.
  sink_.on_result = [&](const Result& r) {
    if (r.id == 1) send(2);
  };
  send(1);
  ASSERT_TRUE(wait_results(2));
  EXPECT_TRUE(sink_.find(1)->error.ok());
  ASSERT_TRUE(sink_.find(2)->error.ok()) << sink_.find(2)->error.message;
  EXPECT_TRUE(sink_.find(2)->reused);
  ASSERT_TRUE(run_until([&] { return sink_.count(EventType::kSocketClosed) == 1; }))
      << "the periodic sweep never closed the idle socket";
  EXPECT_EQ(sink_.closed_with(CloseReason::kIdleTimeout), 1u);
  EXPECT_EQ(event_types(sink_), (std::vector<EventType>{EventType::kSocketCreated, EventType::kSocketReused,
                                                         EventType::kSocketClosed}));
  EXPECT_EQ(sink_.events.front().id, sink_.events.back().id);
  EXPECT_EQ(metrics().idle_connections, 0u);
  EXPECT_EQ(server_->connections().size(), 1u);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
}

// A one-shot timer on the test's loop that runs `fn` (a server's own timer).
// Heap-allocated and freed in its close callback; the destructor closes it,
// so TearDown finds the loop empty.
class OneShotTimer {
 public:
  OneShotTimer(uv_loop_t* loop, uint64_t ms, std::function<void()> fn) : t_(new Timer{{}, std::move(fn)}) {
    uv_timer_init(loop, &t_->handle);
    t_->handle.data = t_;
    uv_timer_start(&t_->handle, [](uv_timer_t* h) { static_cast<Timer*>(h->data)->fn(); }, ms, 0);
  }
  ~OneShotTimer() {
    uv_close(reinterpret_cast<uv_handle_t*>(&t_->handle), [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
  }
  OneShotTimer(const OneShotTimer&) = delete;
  OneShotTimer& operator=(const OneShotTimer&) = delete;

 private:
  struct Timer {
    uv_timer_t handle;
    std::function<void()> fn;
  };
  Timer* t_;  // Owned; deleted in the close callback.
};

TEST_F(PoolTest, KeepAliveHintShortensTheIdleTimeout) {
  Config c;
  c.free_socket_timeout_ms = 10000;
  c.cleanup_period_ms = 20;
  start_pool(c);
  server_->script.respond = [](const ServerRequest& r) {
    return http_response(r.target, 200, "Keep-Alive: timeout=1\r\n");
  };
  // The server keeps its word: it closes the connection 1 s after its last
  // answer. Its timer starts when the pool delivers that answer, the turn the
  // socket went idle (never earlier than a real server's), on the same loop
  // as the sweep. Timers run in due order, so the pool closes the socket as
  // idle-timeout first only if it honours the hint with its margin; with the
  // 10 s freeSocketTimeout the server's FIN would win (server-closed).
  std::unique_ptr<OneShotTimer> server_keep_alive;
  sink_.on_result = [&](const Result& r) {
    if (r.id == 1) send(2);  // before the hint runs out: reuses the socket
    if (r.id == 2) server_keep_alive = std::make_unique<OneShotTimer>(&loop_, 1000, [&] { server_->close_idle(); });
  };
  send(1);
  ASSERT_TRUE(wait_results(2));
  ASSERT_TRUE(sink_.find(1)->error.ok());
  ASSERT_TRUE(sink_.find(2)->error.ok()) << sink_.find(2)->error.message;
  EXPECT_TRUE(sink_.find(2)->reused) << "the hint must not make the socket unusable at once";
  ASSERT_TRUE(run_until([&] { return sink_.count(EventType::kSocketClosed) == 1; }))
      << "neither the pool nor the server closed the socket";
  EXPECT_EQ(sink_.closed_with(CloseReason::kIdleTimeout), 1u)
      << "the socket outlived the server's own keep-alive timeout";
  EXPECT_EQ(metrics().idle_connections, 0u);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
  EXPECT_EQ(server_->connections().size(), 1u);
}

TEST_F(PoolTest, KeepAliveHintOfZeroClosesTheSocketAfterTheResponse) {
  start_pool(Config{});
  server_->script.respond = [](const ServerRequest& r) {
    return http_response(r.target, 200, "Keep-Alive: timeout=0\r\n");
  };
  send(1, "/one");
  ASSERT_TRUE(wait_results(1));
  EXPECT_TRUE(sink_.results[0].error.ok());
  EXPECT_EQ(sink_.results[0].body, "/one");
  ASSERT_TRUE(run_until([&] { return sink_.closed_with(CloseReason::kServerClosed) == 1; }));
  send(2, "/two");
  ASSERT_TRUE(wait_results(2));
  EXPECT_FALSE(sink_.results[1].reused);
  EXPECT_EQ(server_->connections().size(), 2u);
}

TEST_F(PoolTest, KeepAliveFalseSendsConnectionCloseAndUsesOneSocketPerRequest) {
  Config c;
  c.keep_alive = false;
  start_pool(c);
  for (uintptr_t i = 1; i <= 3; i++) {
    send(i, "/" + std::to_string(i));
    ASSERT_TRUE(wait_results(i));
    EXPECT_TRUE(sink_.results.back().error.ok()) << sink_.results.back().error.message;
    EXPECT_FALSE(sink_.results.back().reused);
  }
  EXPECT_EQ(server_->connections().size(), 3u);
  for (const ServerRequest& r : server_->requests()) EXPECT_EQ(r.header("connection"), "close");
  ASSERT_TRUE(run_until([&] { return sink_.closed_with(CloseReason::kNoKeepAlive) == 3; }));
  EXPECT_EQ(metrics().idle_connections, 0u);
}

TEST_F(PoolTest, ServerConnectionCloseIsHonoured) {
  start_pool(Config{});
  server_->script.respond = [](const ServerRequest& r) {
    return http_response(r.target, 200, "Connection: close\r\n");
  };
  send(1);
  ASSERT_TRUE(wait_results(1));
  EXPECT_TRUE(sink_.results[0].error.ok());
  ASSERT_TRUE(run_until([&] { return sink_.closed_with(CloseReason::kServerClosed) == 1; }));
  EXPECT_EQ(metrics().idle_connections, 0u);
  send(2);
  ASSERT_TRUE(wait_results(2));
  EXPECT_FALSE(sink_.results[1].reused);
  EXPECT_EQ(server_->connections().size(), 2u);
}

TEST_F(PoolTest, MaxRequestsPerSocketRecyclesTheSocket) {
  Config c;
  c.max_requests_per_socket = 2;
  start_pool(c);
  for (uintptr_t i = 1; i <= 3; i++) {
    send(i);
    ASSERT_TRUE(wait_results(i));
    EXPECT_TRUE(sink_.results.back().error.ok());
  }
  EXPECT_EQ(server_->connections().size(), 2u);
  EXPECT_EQ(server_->connections()[0].requests, 2u);
  EXPECT_EQ(sink_.closed_with(CloseReason::kMaxRequests), 1u);
}

TEST_F(PoolTest, MaxTotalSocketsEvictsAnIdleSocketOfAnotherOrigin) {
  Config c;
  c.max_total_sockets = 1;
  start_pool(c);
  const std::string other = "http://localhost:" + std::to_string(server_->port());
  send(1, "/a");
  ASSERT_TRUE(wait_results(1));
  Send s;
  s.id = 2;
  s.target = "/b";
  execute_to(other, server_->port(), s);
  ASSERT_TRUE(wait_results(2));
  EXPECT_TRUE(sink_.results[1].error.ok()) << sink_.results[1].error.message;
  EXPECT_EQ(server_->connections().size(), 2u);
  ASSERT_TRUE(run_until([&] { return sink_.closed_with(CloseReason::kMaxFree) == 1; }));
  const cpc::MetricsSnapshot m = metrics();
  EXPECT_EQ(m.idle_connections, 1u);
  for (const cpc::OriginMetrics& o : m.origins) EXPECT_EQ(o.total, o.origin == other ? 1u : 0u);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 1; }));
}

TEST_F(PoolTest, WarmupOpensIdleSocketsAndReportsTheCount) {
  Config c;
  c.max_sockets = 3;
  start_pool(c);
  int tag = 0;
  pool().warmup(origin(), "127.0.0.1", server_->port(), false, 5, &tag);  // capped at 3
  ASSERT_TRUE(run_until([&] { return !sink_.notices.empty(); }));
  EXPECT_EQ(sink_.notices[0].notice.kind, cpc::Notice::Kind::kWarmupDone);
  EXPECT_EQ(sink_.notices[0].notice.user, &tag);
  EXPECT_EQ(sink_.notices[0].notice.value, 3u);
  EXPECT_EQ(metrics().idle_connections, 3u);
  EXPECT_EQ(server_->connections().size(), 3u);
  send(1);
  ASSERT_TRUE(wait_results(1));
  EXPECT_EQ(server_->connections().size(), 3u) << "a request after warmup uses a warm socket";
}

TEST_F(PoolTest, ClosesAnIdleSocketTheServerClosed) {
  start_pool(Config{});
  send(1, "/one");
  ASSERT_TRUE(wait_results(1));
  server_->close_idle();
  ASSERT_TRUE(run_until([&] { return sink_.closed_with(CloseReason::kServerClosed) == 1; }));
  EXPECT_EQ(metrics().idle_connections, 0u);
  send(2, "/two");
  ASSERT_TRUE(wait_results(2));
  EXPECT_TRUE(sink_.results[1].error.ok()) << sink_.results[1].error.message;
  EXPECT_EQ(sink_.results[1].body, "/two");
  EXPECT_EQ(server_->connections().size(), 2u);
}

TEST_F(PoolTest, ClosesAnIdleSocketThatReceivesUnsolicitedBytes) {
  start_pool(Config{});
  send(1, "/one");
  ASSERT_TRUE(wait_results(1));
  server_->send_to_all(http_response("poison"));
  ASSERT_TRUE(run_until([&] { return sink_.closed_with(CloseReason::kServerClosed) == 1; }));
  send(2, "/two");
  ASSERT_TRUE(wait_results(2));
  EXPECT_TRUE(sink_.results[1].error.ok()) << sink_.results[1].error.message;
  EXPECT_EQ(sink_.results[1].body, "/two") << "unsolicited bytes answered a later request";
  EXPECT_EQ(server_->connections().size(), 2u);
}

TEST_F(PoolTest, BytesAfterAResponseAreNeverParsedAsTheNextResponse) {
  start_pool(Config{});
  server_->script.extra_bytes = http_response("poison");
  send(1, "/one");
  ASSERT_TRUE(wait_results(1));
  EXPECT_TRUE(sink_.results[0].error.ok()) << sink_.results[0].error.message;
  EXPECT_EQ(sink_.results[0].body, "/one");
  ASSERT_TRUE(run_until([&] { return sink_.count(EventType::kSocketClosed) == 1; }));
  EXPECT_EQ(metrics().idle_connections, 0u);
  server_->script.extra_bytes.clear();
  send(2, "/two");
  ASSERT_TRUE(wait_results(2));
  EXPECT_EQ(sink_.results[1].body, "/two");
  EXPECT_FALSE(sink_.results[1].reused);
  EXPECT_EQ(server_->connections().size(), 2u);
}

}  // namespace
}  // namespace cpc_test
