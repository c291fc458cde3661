// How requests fail: refusals found in the call (delivered on a later turn),
// connect errors and timeouts, request timeouts, abort, maxQueue, bad
// responses, and the idle-socket race (retry a GET once, never a POST).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "support/pool_harness.h"

namespace cpc_test {
namespace {

using cpc::CloseReason;
using cpc::Config;
using cpc::ErrorCode;
using cpc::EventType;

TEST_F(PoolTest, InvalidRequestIsRefusedOnALaterTurnWithoutTouchingTheNetwork) {
  start_pool(Config{});
  Send bad;
  bad.id = 1;
  bad.method = "GE T";
  execute(bad);
  Send injected;
  injected.id = 2;
  injected.headers = {{"X-Evil", "a\r\nX-Injected: 1"}};
  execute(injected);
  EXPECT_TRUE(sink_.results.empty()) << "refusals must not settle inside execute()";
  ASSERT_TRUE(wait_results(2));
  EXPECT_EQ(sink_.find(1)->error.code, ErrorCode::kInvalidArg);
  EXPECT_EQ(sink_.find(1)->error.js_code(), "ERR_INVALID_ARG_VALUE");
  EXPECT_EQ(sink_.find(2)->error.code, ErrorCode::kInvalidArg);
  const cpc::MetricsSnapshot m = metrics();
  EXPECT_EQ(m.counters.total_connections, 0u);
  EXPECT_EQ(m.counters.total_requests, 2u);
  EXPECT_EQ(m.counters.failed_requests, 2u);
  EXPECT_EQ(m.pending_requests, 0u);
  EXPECT_TRUE(server_->connections().empty());
}

TEST_F(PoolTest, ConnectRefusedFailsWithTheSystemError) {
  // A port that was just bound and released: nothing listens there.
  uv_tcp_t probe;
  uv_tcp_init(&loop_, &probe);
  sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  ASSERT_EQ(uv_tcp_bind(&probe, reinterpret_cast<const sockaddr*>(&addr), 0), 0);
  sockaddr_storage bound;
  int len = sizeof(bound);
  ASSERT_EQ(uv_tcp_getsockname(&probe, reinterpret_cast<sockaddr*>(&bound), &len), 0);
  const uint16_t port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  bool probe_closed = false;
  probe.data = &probe_closed;
  uv_close(reinterpret_cast<uv_handle_t*>(&probe),
           [](uv_handle_t* h) { *static_cast<bool*>(h->data) = true; });
  ASSERT_TRUE(run_until([&] { return probe_closed; }));

  start_pool(Config{});
  Send s;
  s.id = 1;
  execute_to("http://127.0.0.1:" + std::to_string(port), port, s);
  ASSERT_TRUE(wait_results(1));
  const cpc::Error& e = sink_.results[0].error;
  EXPECT_EQ(e.code, ErrorCode::kSystem);
  EXPECT_EQ(e.sys, UV_ECONNREFUSED);
  EXPECT_EQ(e.js_code(), "ECONNREFUSED");
  EXPECT_STREQ(e.syscall, "connect");
  const cpc::MetricsSnapshot m = metrics();
  EXPECT_EQ(m.counters.failed_connections, 1u);
  EXPECT_EQ(m.counters.failed_requests, 1u);
  EXPECT_EQ(m.counters.timed_out_connections, 0u);
  EXPECT_EQ(sink_.count(EventType::kSocketError), 1u);
}

// A broadcast or multicast destination makes Linux's TCP connect() fail
// inside the call with ENETUNREACH: a local, reliable synchronous failure of
// uv_tcp_connect. No host name resolves to such an address here, so the
// origin's addresses are set through the test hook.
sockaddr_storage ipv4(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  EXPECT_EQ(uv_ip4_addr(ip, port, reinterpret_cast<sockaddr_in*>(&ss)), 0);
  return ss;
}

class SyncConnectFailureTest : public PoolTest {
 protected:
  // Sends one GET to an origin whose host "resolves" to `addrs`.
  void send_via(std::vector<sockaddr_storage> addrs) {
    const std::string key = "http://multi.test:" + std::to_string(server_->port());
    pool().origin_for(key, "multi.test", server_->port(), false)->set_addresses_for_test(std::move(addrs));
    Send s;
    s.id = 1;
    execute_to(key, server_->port(), s);
  }
};

TEST_F(SyncConnectFailureTest, MovesOnToTheNextAddressWhenConnectFailsInTheCall) {
  start_pool(Config{});
  send_via({ipv4("255.255.255.255", server_->port()), ipv4("127.0.0.1", server_->port())});
  ASSERT_TRUE(wait_results(1));
  const Result& r = sink_.results[0];
  ASSERT_TRUE(r.error.ok()) << "the second address was never tried: " << r.error.js_code() << " "
                            << r.error.message;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(server_->connections().size(), 1u);
  const cpc::MetricsSnapshot m = metrics();
  EXPECT_EQ(m.counters.total_connections, 1u);  // one socket, two addresses tried
  EXPECT_EQ(m.counters.failed_connections, 0u);
  EXPECT_EQ(sink_.count(EventType::kSocketError), 0u);
}

TEST_F(SyncConnectFailureTest, EveryAddressFailingInTheCallGivesTheSystemErrorAndLeavesNoHandle) {
  start_pool(Config{});
  send_via({ipv4("255.255.255.255", server_->port()), ipv4("224.0.0.1", server_->port())});
  EXPECT_TRUE(sink_.results.empty());
  ASSERT_TRUE(wait_results(1));
  const cpc::Error& e = sink_.results[0].error;
  EXPECT_EQ(e.code, ErrorCode::kSystem);
  EXPECT_EQ(e.sys, UV_ENETUNREACH);
  EXPECT_EQ(e.js_code(), "ENETUNREACH");
  EXPECT_STREQ(e.syscall, "connect");
  EXPECT_TRUE(server_->connections().empty());
  ASSERT_TRUE(run_until([&] { return sink_.count(EventType::kSocketClosed) == 1; }));
  const cpc::MetricsSnapshot m = metrics();
  EXPECT_EQ(m.counters.failed_connections, 1u);
  EXPECT_EQ(m.counters.failed_requests, 1u);
  ASSERT_EQ(m.origins.size(), 1u);
  EXPECT_EQ(m.origins[0].total, 0u);
  EXPECT_EQ(pool().sweep_now(), 0u);  // the leak audit finds nothing
  // TearDown: every handle of the socket closed, the loop closes on 0.
}

// Linux drops a SYN while the listen queue is full, so a connect to a
// listener with backlog 0 whose one queued connection is never accepted
// stays pending: a local, reliable connect timeout. The test reads the
// queue's state instead of assuming it: for a listener, TCP_INFO reports the
// accept queue's length in tcpi_unacked and the backlog in tcpi_sacked, and
// the kernel drops SYNs once the length exceeds the backlog.
TEST_F(PoolTest, ConnectTimeoutFailsWhenTheListenQueueIsFull) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  socklen_t alen = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &alen), 0);
  const uint16_t port = ntohs(addr.sin_port);
  const int filler = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(filler, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  tcp_info info{};
  auto queue_full = [&] {
    socklen_t n = sizeof(info);
    return getsockopt(listener, IPPROTO_TCP, TCP_INFO, &info, &n) == 0 && info.tcpi_unacked > info.tcpi_sacked;
  };
  start_stall_meter();  // its 5 ms tick wakes the loop to re-check
  ASSERT_TRUE(run_until(queue_full)) << "accept queue " << info.tcpi_unacked << ", backlog " << info.tcpi_sacked;

  Config c;
  c.connect_timeout_ms = 100;
  start_pool(c);
  Send s;
  s.id = 1;
  execute_to("http://127.0.0.1:" + std::to_string(port), port, s);
  ASSERT_TRUE(wait_results(1));
  EXPECT_EQ(sink_.results[0].error.code, ErrorCode::kConnectTimeout)
      << sink_.results[0].error.message;
  EXPECT_EQ(sink_.results[0].error.js_code(), "ERR_POOL_CONNECT_TIMEOUT");
  // The connect never completed: no socket was created, one connect failed.
  EXPECT_EQ(sink_.count(EventType::kSocketCreated), 0u);
  EXPECT_EQ(sink_.count(EventType::kSocketError), 1u);
  EXPECT_TRUE(queue_full()) << "the queue must still be full: the pool's SYN was dropped, not queued";
  const cpc::MetricsSnapshot m = metrics();
  EXPECT_EQ(m.counters.timed_out_connections, 1u);
  EXPECT_EQ(m.counters.failed_connections, 1u);
  EXPECT_EQ(m.counters.failed_requests, 1u);
  close(filler);
  close(listener);
}

TEST_F(PoolTest, RequestTimeoutFailsAndClosesTheSocketWhenTheServerNeverAnswers) {
  start_pool(Config{});
  server_->script.hold = true;  // and never released
  Send s;
  s.id = 1;
  s.timeout_ms = 50;
  execute(s);
  ASSERT_TRUE(wait_results(1));
  EXPECT_EQ(sink_.results[0].error.code, ErrorCode::kRequestTimeout);
  EXPECT_EQ(sink_.results[0].error.js_code(), "ERR_POOL_REQUEST_TIMEOUT");
  // The request was on the wire (the server holds it, unanswered).
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
  ASSERT_TRUE(run_until([&] { return sink_.closed_with(CloseReason::kError) == 1; }));
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }))
      << "the timed-out socket must be destroyed, not reused";
  EXPECT_EQ(metrics().active_connections + metrics().idle_connections, 0u);
}

TEST_F(PoolTest, QueueTimeCountsTowardsTheRequestTimeout) {
  Config c;
  c.max_sockets = 1;
  start_pool(c);
  server_->script.hold = true;
  send(1, "/first");
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
  Send queued;
  queued.id = 2;
  queued.target = "/queued";
  queued.timeout_ms = 30;
  execute(queued);
  ASSERT_TRUE(wait_results(1));
  EXPECT_EQ(sink_.results[0].id, 2u);
  EXPECT_EQ(sink_.results[0].error.code, ErrorCode::kRequestTimeout);
  server_->release(1);
  ASSERT_TRUE(wait_results(2));
  EXPECT_TRUE(sink_.find(1)->error.ok());
  EXPECT_EQ(server_->requests().size(), 1u) << "a timed-out queued request was still sent";
}

TEST_F(PoolTest, AbortFailsAnInFlightRequestAndClosesItsSocket) {
  start_pool(Config{});
  server_->script.hold = true;
  const uint64_t handle = send(1);
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
  EXPECT_TRUE(pool().abort(handle, cpc::make_error(ErrorCode::kAborted, "aborted")));
  EXPECT_TRUE(sink_.results.empty()) << "abort() must not settle inside the call";
  ASSERT_TRUE(wait_results(1));
  EXPECT_EQ(sink_.results[0].error.code, ErrorCode::kAborted);
  EXPECT_EQ(sink_.results[0].error.js_code(), "ABORT_ERR");
  EXPECT_FALSE(pool().abort(handle, cpc::make_error(ErrorCode::kAborted))) << "already ended";
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
  EXPECT_EQ(sink_.closed_with(CloseReason::kError), 1u);
}

TEST_F(PoolTest, AbortOfAQueuedRequestNeverSendsIt) {
  Config c;
  c.max_sockets = 1;
  start_pool(c);
  server_->script.hold = true;
  send(1, "/first");
  const uint64_t queued = send(2, "/queued");
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
  EXPECT_TRUE(pool().abort(queued, cpc::make_error(ErrorCode::kAborted)));
  ASSERT_TRUE(wait_results(1));
  EXPECT_EQ(sink_.results[0].id, 2u);
  EXPECT_EQ(sink_.results[0].error.code, ErrorCode::kAborted);
  server_->release(1);
  ASSERT_TRUE(wait_results(2));
  EXPECT_TRUE(sink_.find(1)->error.ok());
  EXPECT_EQ(server_->requests().size(), 1u);
  EXPECT_EQ(metrics().idle_connections, 1u) << "aborting a queued request costs no socket";
}

TEST_F(PoolTest, MaxQueueRefusesWithQueueFull) {
  Config c;
  c.max_sockets = 1;
  c.max_queue = 1;
  start_pool(c);
  server_->script.hold = true;
  send(1, "/1");
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 1; }));
  send(2, "/2");  // waits: the one queue place
  send(3, "/3");  // no place left
  ASSERT_TRUE(wait_results(1));
  EXPECT_EQ(sink_.results[0].id, 3u);
  EXPECT_EQ(sink_.results[0].error.code, ErrorCode::kQueueFull);
  EXPECT_EQ(sink_.results[0].error.js_code(), "ERR_POOL_QUEUE_FULL");
  server_->release(1);
  ASSERT_TRUE(run_until([&] { return server_->requests().size() == 2; }));
  server_->release(1);
  ASSERT_TRUE(wait_results(3));
  EXPECT_TRUE(sink_.find(1)->error.ok());
  EXPECT_TRUE(sink_.find(2)->error.ok());
  EXPECT_EQ(server_->requests().size(), 2u);
}

TEST_F(PoolTest, ResponseOverMaxResponseSizeFailsAndDestroysTheSocket) {
  Config c;
  c.max_response_size = 10;
  start_pool(c);
  server_->script.respond = [](const ServerRequest&) { return http_response(std::string(100, 'x')); };
  send(1);
  ASSERT_TRUE(wait_results(1));
  EXPECT_EQ(sink_.results[0].error.code, ErrorCode::kResponseTooLarge);
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
  EXPECT_EQ(metrics().idle_connections, 0u);
}

TEST_F(PoolTest, MalformedResponseFailsWithTheParserReason) {
  start_pool(Config{});
  server_->script.respond = [](const ServerRequest&) {
    return std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n");
  };
  send(1);
  ASSERT_TRUE(wait_results(1));
  const cpc::Error& e = sink_.results[0].error;
  EXPECT_EQ(e.code, ErrorCode::kParse);
  EXPECT_EQ(e.js_code(), "ERR_POOL_PARSE");
  EXPECT_EQ(e.reason.rfind("HPE_", 0), 0u) << e.reason;
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
}

TEST_F(PoolTest, TruncatedBodyFailsWithSocketClosedAndIsNotRetried) {
  start_pool(Config{});
  server_->script.respond = [](const ServerRequest&) {
    return std::string("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  };
  server_->script.close_after_response = true;
  send(1);
  ASSERT_TRUE(wait_results(1));
  EXPECT_EQ(sink_.results[0].error.code, ErrorCode::kSocketClosed);
  EXPECT_EQ(sink_.results[0].error.js_code(), "ERR_POOL_SOCKET_CLOSED");
  EXPECT_EQ(server_->requests().size(), 1u);
  EXPECT_EQ(server_->connections().size(), 1u);
}

// The idle-socket race, made deterministic: the server takes the second
// request on a kept-alive connection and closes it without a byte of answer,
// which is what a client sees when the server's idle timer fired just as
// the request was written.
TEST_F(PoolTest, RetriesAGetOnAFreshSocketWhenTheReusedSocketClosesBeforeAnyResponse) {
  start_pool(Config{});
  server_->script.drop_on_request = 2;
  send(1, "/one");
  ASSERT_TRUE(wait_results(1));
  send(2, "/two");
  ASSERT_TRUE(wait_results(2));
  const Result& r = sink_.results[1];
  ASSERT_TRUE(r.error.ok()) << "the caller must never see the race: " << r.error.message;
  EXPECT_EQ(r.body, "/two");
  EXPECT_EQ(r.attempt, 1u);
  EXPECT_FALSE(r.reused) << "the retry runs on a fresh socket";
  ASSERT_EQ(server_->requests().size(), 3u);
  EXPECT_EQ(server_->requests()[1].target, "/two");
  EXPECT_EQ(server_->requests()[1].conn, 0u);
  EXPECT_EQ(server_->requests()[2].target, "/two");
  EXPECT_EQ(server_->requests()[2].conn, 1u);
  EXPECT_EQ(metrics().counters.failed_requests, 0u);
}

TEST_F(PoolTest, NeverResendsAPostWhenTheReusedSocketClosesBeforeAnyResponse) {
  start_pool(Config{});
  server_->script.drop_on_request = 2;
  send(1, "/one");
  ASSERT_TRUE(wait_results(1));
  send(2, "/pay", "POST", "amount=1");
  ASSERT_TRUE(wait_results(2));
  EXPECT_EQ(sink_.results[1].error.code, ErrorCode::kSocketClosed)
      << sink_.results[1].error.message;
  size_t posts = 0;
  for (const ServerRequest& r : server_->requests()) posts += r.method == "POST";
  EXPECT_EQ(posts, 1u);
  EXPECT_EQ(server_->connections().size(), 1u) << "no fresh socket was opened for a retry";
  // A marker GET after the failure: a retried POST, queued or on its way,
  // would reach the server before it (or on a second connection).
  server_->script.drop_on_request = 0;
  send(3, "/after");
  ASSERT_TRUE(wait_results(3));
  EXPECT_TRUE(sink_.find(3)->error.ok()) << sink_.find(3)->error.message;
  ASSERT_EQ(server_->requests().size(), 3u);
  EXPECT_EQ(server_->requests()[2].target, "/after");
  EXPECT_EQ(server_->connections().size(), 2u) << "one fresh socket, for the marker GET";
  posts = 0;
  for (const ServerRequest& r : server_->requests()) posts += r.method == "POST";
  EXPECT_EQ(posts, 1u);
}

// The server closes each connection right after its answer, without saying
// so; the next GET is sent from inside the delivery of the first result
// (as a JS continuation would). It must be served, on a fresh socket.
TEST_F(PoolTest, NextGetSucceedsWhenTheServerClosedTheSocketRightAfterTheResponse) {
  start_pool(Config{});
  server_->script.close_after_response = true;
  sink_.on_result = [&](const Result& r) {
    if (r.id == 1) send(2, "/two");
  };
  send(1, "/one");
  ASSERT_TRUE(wait_results(2));
  EXPECT_TRUE(sink_.results[0].error.ok()) << sink_.results[0].error.message;
  ASSERT_TRUE(sink_.results[1].error.ok()) << sink_.results[1].error.message;
  EXPECT_EQ(sink_.results[1].body, "/two");
  EXPECT_EQ(server_->connections().size(), 2u);
  EXPECT_EQ(server_->connections()[1].requests, 1u);
}

}  // namespace
}  // namespace cpc_test
