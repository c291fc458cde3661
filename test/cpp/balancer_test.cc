// Balancer (BalancedPool's core, API.md "BalancedPool"): Retry-After
// parsing, then each decision on its own through BalancerTestPeer with a
// test clock and a fixed jitter seed (pick per strategy, health classes,
// may_retry, backoff, budget), and the breaker's transitions end to end
// against the TestServer on the test's loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/balancer.h"
#include "support/pool_harness.h"

namespace cpc {

// The friend of Balancer that lets the tests drive its private decisions.
class BalancerTestPeer {
 public:
  static int pick(Balancer& b, const Request* req) { return b.pick(req); }
  static bool eligible(Balancer& b, int i, uint64_t now) { return b.eligible(b.endpoints_.at(i), now); }
  static void record(Balancer& b, int i, const Request* req, bool failed, double ms) {
    b.record(b.endpoints_.at(i), req, failed,
             failed ? make_error(ErrorCode::kSocketClosed, "test failure") : Error{}, ms);
  }
  static bool may_retry(Balancer& b, const Request* req, uint64_t* delay) { return b.may_retry(req, delay); }
  static bool budget_allows(Balancer& b) { return b.budget_allows(); }
  static void add_requests(Balancer& b, double n) {
    b.note_request();
    b.requests_now_ += n;
  }
  static EndpointStats& stats(Balancer& b, int i) { return b.endpoints_.at(i).stats; }
  static void send_probes(Balancer& b) {
    Pool::Entry entry(*b.pool_);
    b.send_probes();
  }
};

}  // namespace cpc

namespace cpc_test {
namespace {

using cpc::BalancerTestPeer;
using cpc::Breaker;
using cpc::Health;

using cpc::parse_retry_after_ms;

// 1994-11-06T08:49:37Z, the RFC's example date, in Unix ms.
constexpr int64_t kRfcExampleMs = 784111777000;

TEST(RetryAfter, DelaySeconds) {
  EXPECT_EQ(parse_retry_after_ms("0", kRfcExampleMs), 0u);
  EXPECT_EQ(parse_retry_after_ms("1", kRfcExampleMs), 1000u);
  EXPECT_EQ(parse_retry_after_ms(" 120 ", kRfcExampleMs), 120000u);
  EXPECT_EQ(parse_retry_after_ms("", kRfcExampleMs), 0u);
  EXPECT_EQ(parse_retry_after_ms("1.5", kRfcExampleMs), 0u);
  EXPECT_EQ(parse_retry_after_ms("-1", kRfcExampleMs), 0u);
  EXPECT_EQ(parse_retry_after_ms("1234567890", kRfcExampleMs), 0u);  // absurd: ignored
}

TEST(RetryAfter, ImfFixdateIsRelativeToNow) {
  const char* date = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_EQ(parse_retry_after_ms(date, kRfcExampleMs - 3000), 3000u);
  EXPECT_EQ(parse_retry_after_ms(date, kRfcExampleMs - 250), 250u);
  EXPECT_EQ(parse_retry_after_ms(date, kRfcExampleMs - 86400000), 86400000u);
  // Now or past: no wait.
  EXPECT_EQ(parse_retry_after_ms(date, kRfcExampleMs), 0u);
  EXPECT_EQ(parse_retry_after_ms(date, kRfcExampleMs + 5000), 0u);
  // Leap day and month/year ends.
  EXPECT_EQ(parse_retry_after_ms("Thu, 29 Feb 2024 00:00:00 GMT", 1709164800000 - 1), 1u);
  EXPECT_EQ(parse_retry_after_ms("Fri, 01 Jan 2100 00:00:10 GMT", 4102444800000), 10000u);
}

TEST(RetryAfter, MalformedDatesAreIgnored) {
  const int64_t long_ago = 0;
  for (const char* bad : {
           "Sun, 06 Nov 1994 08:49:37 UTC",     // not GMT
           "Sun 06 Nov 1994 08:49:37 GMT",      // no comma
           "Sun, 6 Nov 1994 08:49:37 GMT",      // one-digit day
           "Sun, 06 Foo 1994 08:49:37 GMT",     // month
           "Xyz, 06 Nov 1994 08:49:37 GMT",     // weekday
           "Sun, 06 Nov 1994 25:49:37 GMT",     // hour
           "Sunday, 06-Nov-94 08:49:37 GMT",    // RFC 850 (obsolete)
           "Sun Nov  6 08:49:37 1994",          // asctime (obsolete)
           "Sun, 06 Nov 1994 08:49:37 GMTX",
       }) {
    EXPECT_EQ(parse_retry_after_ms(bad, long_ago), 0u) << bad;
  }
}

// --- decisions, one by one --------------------------------------------------

class BalancerTest : public PoolTest {
 protected:
  // A balancer over `n` origins that are never dialled (decisions only), on
  // a clock the test moves by hand.
  cpc::Balancer& make(cpc::BalancerConfig config, size_t n) {
    start_pool(cpc::Config{});
    id_ = pool().create_balancer(std::move(config));
    cpc::Balancer& b = *pool().balancer(id_);
    b.set_clock_for_test([this] { return now_; });
    b.seed_for_test(42);
    for (size_t i = 0; i < n; i++) {
      cpc::EndpointSpec spec;
      spec.port = static_cast<uint16_t>(1 + i);
      spec.origin = "http://127.0.0.1:" + std::to_string(spec.port);
      spec.host = "127.0.0.1";
      spec.host_header = "127.0.0.1:" + std::to_string(spec.port);
      b.add_endpoint(spec);
    }
    return b;
  }

  // A balanced request as the pool would hand it over (never submitted).
  std::unique_ptr<cpc::Request> request(uint32_t attempts = 0, bool idempotent = true) {
    auto req = std::make_unique<cpc::Request>(&pool(), 100000);
    req->balanced = std::make_unique<cpc::BalancedAttempt>();
    req->balanced->balancer = id_;
    req->balanced->attempts = attempts;
    req->balanced->idempotent = idempotent;
    return req;
  }

  uint64_t now_ = 1000000;
  uint32_t id_ = 0;
};

TEST_F(BalancerTest, RoundRobinTakesEachEndpointInTurn) {
  cpc::Balancer& b = make(cpc::BalancerConfig{}, 3);
  auto req = request();
  std::vector<int> picks;
  for (int i = 0; i < 7; i++) picks.push_back(BalancerTestPeer::pick(b, req.get()));
  EXPECT_EQ(picks, (std::vector<int>{0, 1, 2, 0, 1, 2, 0}));
}

TEST_F(BalancerTest, PickPrefersUntriedEndpointsThenTheBestHealthClass) {
  cpc::Balancer& b = make(cpc::BalancerConfig{}, 3);
  auto req = request();
  req->balanced->tried = 0b011;  // endpoints 0 and 1 already failed this request
  EXPECT_EQ(BalancerTestPeer::pick(b, req.get()), 2);
  EXPECT_EQ(BalancerTestPeer::pick(b, req.get()), 2);
  req->balanced->tried = 0;
  BalancerTestPeer::stats(b, 0).health = Health::kDegraded;
  BalancerTestPeer::stats(b, 2).health = Health::kUnhealthy;
  for (int i = 0; i < 4; i++) EXPECT_EQ(BalancerTestPeer::pick(b, req.get()), 1);
  // Removed endpoints are never picked.
  ASSERT_TRUE(b.remove_endpoint("http://127.0.0.1:2"));
  for (int i = 0; i < 4; i++) EXPECT_EQ(BalancerTestPeer::pick(b, req.get()), 0);
}

TEST_F(BalancerTest, LeastPendingTakesTheFewestInFlight) {
  cpc::BalancerConfig config;
  config.strategy = cpc::Strategy::kLeastPending;
  cpc::Balancer& b = make(config, 3);
  auto req = request();
  BalancerTestPeer::stats(b, 0).inflight = 3;
  BalancerTestPeer::stats(b, 1).inflight = 1;
  BalancerTestPeer::stats(b, 2).inflight = 2;
  for (int i = 0; i < 3; i++) EXPECT_EQ(BalancerTestPeer::pick(b, req.get()), 1);
  BalancerTestPeer::stats(b, 2).inflight = 0;
  EXPECT_EQ(BalancerTestPeer::pick(b, req.get()), 2);
}

TEST_F(BalancerTest, LeastLatencySamplesEachThenPrefersTheFastestAndStillExplores) {
  cpc::BalancerConfig config;
  config.strategy = cpc::Strategy::kLeastLatency;
  config.healthy_below_ms = 1000;  // one health class for all three
  cpc::Balancer& b = make(config, 3);
  auto req = request();
  // No sample yet: each is tried first.
  std::vector<int> first;
  for (int i = 0; i < 3; i++) {
    const int p = BalancerTestPeer::pick(b, req.get());
    first.push_back(p);
    BalancerTestPeer::record(b, p, req.get(), false, p == 1 ? 5 : 30 + 10 * p);
  }
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<int>{0, 1, 2}));
  std::vector<int> count(3);
  for (int i = 0; i < 96; i++) count[BalancerTestPeer::pick(b, req.get())]++;
  EXPECT_GE(count[1], 90);
  EXPECT_GT(count[0], 0);  // explored now and then
  EXPECT_GT(count[2], 0);
}

TEST_F(BalancerTest, ResponseTimesSetTheHealthClass) {
  cpc::Balancer& b = make(cpc::BalancerConfig{}, 5);
  auto req = request();
  // The first sample is the EWMA.
  const double ms[] = {10, 49.9, 50, 199, 201};
  const Health want[] = {Health::kHealthy, Health::kHealthy, Health::kDegraded, Health::kDegraded,
                         Health::kUnhealthy};
  for (int i = 0; i < 5; i++) {
    BalancerTestPeer::record(b, i, req.get(), false, ms[i]);
    EXPECT_EQ(BalancerTestPeer::stats(b, i).health, want[i]) << ms[i] << " ms";
  }
  // The EWMA moves back: fast answers bring the slow one back to healthy.
  for (int i = 0; i < 20; i++) BalancerTestPeer::record(b, 4, req.get(), false, 1);
  EXPECT_EQ(BalancerTestPeer::stats(b, 4).health, Health::kHealthy);
}

TEST_F(BalancerTest, ConsecutiveFailuresMakeUnhealthyThenDeadAndASuccessRevives) {
  cpc::BalancerConfig config;
  config.breaker_failures = 100;
  cpc::Balancer& b = make(config, 1);
  auto req = request();
  BalancerTestPeer::record(b, 0, req.get(), false, 10);
  std::vector<Health> seen;
  for (int i = 0; i < 5; i++) {
    BalancerTestPeer::record(b, 0, req.get(), true, 0);
    seen.push_back(BalancerTestPeer::stats(b, 0).health);
  }
  EXPECT_EQ(seen, (std::vector<Health>{Health::kHealthy, Health::kHealthy, Health::kUnhealthy,
                                       Health::kUnhealthy, Health::kDead}));
  EXPECT_EQ(BalancerTestPeer::stats(b, 0).consecutive_failures, 5u);
  EXPECT_EQ(BalancerTestPeer::stats(b, 0).failures, 5u);
  BalancerTestPeer::record(b, 0, req.get(), false, 10);
  EXPECT_EQ(BalancerTestPeer::stats(b, 0).health, Health::kHealthy);
  EXPECT_EQ(BalancerTestPeer::stats(b, 0).consecutive_failures, 0u);
}

TEST_F(BalancerTest, OpenBreakerIsIneligibleUntilCooledDownAndDeadWaitsForProbes) {
  cpc::BalancerConfig config;
  config.breaker_failures = 2;
  config.breaker_cooldown_ms = 1000;
  config.dead_after_failures = 100;
  cpc::Balancer& b = make(config, 1);
  auto req = request();
  BalancerTestPeer::record(b, 0, req.get(), true, 0);
  EXPECT_EQ(BalancerTestPeer::stats(b, 0).breaker, Breaker::kClosed);
  BalancerTestPeer::record(b, 0, req.get(), true, 0);
  EXPECT_EQ(BalancerTestPeer::stats(b, 0).breaker, Breaker::kOpen);
  EXPECT_FALSE(BalancerTestPeer::eligible(b, 0, now_ + 999));
  EXPECT_TRUE(BalancerTestPeer::eligible(b, 0, now_ + 1000));
  // Asking is not choosing: the breaker is still open.
  EXPECT_EQ(BalancerTestPeer::stats(b, 0).breaker, Breaker::kOpen);
  // A success that was in flight before it opened does not close it.
  BalancerTestPeer::record(b, 0, req.get(), false, 10);
  EXPECT_EQ(BalancerTestPeer::stats(b, 0).breaker, Breaker::kOpen);
  // Dead with probes on: not eligible, cooled down or not.
  cpc::BalancerConfig probing = config;
  probing.probe_interval_ms = 3600000;
  cpc::Balancer& p = *pool().balancer(pool().create_balancer(probing));
  cpc::EndpointSpec spec;
  spec.origin = "http://127.0.0.1:9";
  spec.host = "127.0.0.1";
  spec.port = 9;
  p.add_endpoint(spec);
  BalancerTestPeer::stats(p, 0).health = Health::kDead;
  EXPECT_FALSE(BalancerTestPeer::eligible(p, 0, now_));
}

TEST_F(BalancerTest, MayRetryFollowsTheRules) {
  cpc::BalancerConfig config;
  config.budget_percent = 100;
  cpc::Balancer& b = make(config, 2);
  BalancerTestPeer::add_requests(b, 1000);
  uint64_t delay = 0;
  auto conn_error = [](cpc::Request* r, bool sent) {
    r->error = cpc::make_error(cpc::ErrorCode::kSocketClosed, "closed");
    r->sent = sent;
  };
  // A POST without idempotent: retried only if no byte was written.
  auto post = request(1, false);
  conn_error(post.get(), true);
  EXPECT_FALSE(BalancerTestPeer::may_retry(b, post.get(), &delay));
  conn_error(post.get(), false);
  EXPECT_TRUE(BalancerTestPeer::may_retry(b, post.get(), &delay));
  // Idempotent: after bytes were written too.
  auto get = request(1, true);
  conn_error(get.get(), true);
  EXPECT_TRUE(BalancerTestPeer::may_retry(b, get.get(), &delay));
  // Statuses: 502/503/504/429 for idempotent requests only; never 500/200.
  for (uint16_t status : {502, 503, 504, 429, 500, 200}) {
    for (bool idempotent : {true, false}) {
      auto r = request(1, idempotent);
      r->sent = true;
      r->response.status = status;
      const bool want = idempotent && status != 500 && status != 200;
      EXPECT_EQ(BalancerTestPeer::may_retry(b, r.get(), &delay), want) << status << " idempotent " << idempotent;
    }
  }
  // Never after an abort, a close or the request timeout, nor past `attempts`.
  for (cpc::ErrorCode code : {cpc::ErrorCode::kAborted, cpc::ErrorCode::kClosed, cpc::ErrorCode::kRequestTimeout}) {
    auto r = request(1, true);
    r->error = cpc::make_error(code);
    EXPECT_FALSE(BalancerTestPeer::may_retry(b, r.get(), &delay));
  }
  auto last = request(config.attempts, true);
  conn_error(last.get(), false);
  EXPECT_FALSE(BalancerTestPeer::may_retry(b, last.get(), &delay));
  // Nor when the delay would pass the request's deadline.
  auto late = request(1, true);
  conn_error(late.get(), false);
  late->balanced->deadline_ms = now_ + 1;  // the jitter is in [0, 50]: most draws miss it
  size_t started = 0;
  for (int i = 0; i < 50; i++) {
    uint64_t d = 0;
    if (BalancerTestPeer::may_retry(b, late.get(), &d)) {
      started++;
      EXPECT_LT(now_ + d, late->balanced->deadline_ms);
    }
  }
  EXPECT_LT(started, 50u);
}

TEST_F(BalancerTest, BackoffIsFullJitterUnderTheExponentialCap) {
  cpc::BalancerConfig config;
  config.attempts = 10;
  config.base_delay_ms = 50;
  config.max_delay_ms = 2000;
  config.budget_percent = 100;
  cpc::Balancer& b = make(config, 2);
  BalancerTestPeer::add_requests(b, 1e9);
  for (uint32_t n = 1; n <= 8; n++) {
    const uint64_t cap = std::min<uint64_t>(2000, uint64_t{50} << (n - 1));
    auto r = request(n, true);
    r->error = cpc::make_error(cpc::ErrorCode::kSocketClosed);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 400; i++) {
      uint64_t d = UINT64_MAX;
      ASSERT_TRUE(BalancerTestPeer::may_retry(b, r.get(), &d));
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    EXPECT_LE(hi, cap) << "attempt " << n;
    // Full jitter spreads over the whole range, not around the cap.
    EXPECT_LT(lo, cap / 10 + 1) << "attempt " << n;
    EXPECT_GT(hi, cap - cap / 10 - 1) << "attempt " << n;
  }
}

TEST_F(BalancerTest, RetryAfterRaisesTheDelayUpToMaxDelay) {
  cpc::BalancerConfig config;
  config.base_delay_ms = 1;
  config.max_delay_ms = 250;
  config.budget_percent = 100;
  cpc::Balancer& b = make(config, 2);
  BalancerTestPeer::add_requests(b, 1000);
  auto with_retry_after = [&](const std::string& value) {
    auto r = request(1, true);
    r->response.status = 503;
    r->response.header_bytes = "retry-after" + value;
    r->response.headers.push_back(cpc::HeaderSpan{0, 11, 11, static_cast<uint32_t>(value.size())});
    uint64_t d = UINT64_MAX;
    EXPECT_TRUE(BalancerTestPeer::may_retry(b, r.get(), &d));
    return d;
  };
  EXPECT_EQ(with_retry_after("3"), 250u);                              // capped
  EXPECT_EQ(with_retry_after("Fri, 31 Dec 9999 23:59:59 GMT"), 250u);  // a date, capped
  EXPECT_LE(with_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), 1u);    // a past date: no wait
  EXPECT_LE(with_retry_after("0"), 1u);
}

TEST_F(BalancerTest, TheBudgetCapsRetriesPerWindow) {
  cpc::BalancerConfig config;
  config.budget_percent = 10;
  cpc::Balancer& b = make(config, 2);
  // No requests yet: the floor of 3 retries.
  int allowed = 0;
  for (int i = 0; i < 50; i++) allowed += BalancerTestPeer::budget_allows(b);
  EXPECT_EQ(allowed, 3);
  // 200 requests: 10% of them.
  BalancerTestPeer::add_requests(b, 200);
  allowed = 0;
  for (int i = 0; i < 50; i++) allowed += BalancerTestPeer::budget_allows(b);
  EXPECT_EQ(allowed, 20 - 3);
  // The next 10 s window still counts the previous one...
  now_ += 10000;
  allowed = 0;
  for (int i = 0; i < 50; i++) allowed += BalancerTestPeer::budget_allows(b);
  EXPECT_EQ(allowed, 0);
  // ...and after two windows of nothing, the floor again.
  now_ += 20000;
  allowed = 0;
  for (int i = 0; i < 50; i++) allowed += BalancerTestPeer::budget_allows(b);
  EXPECT_EQ(allowed, 3);
}

// --- the breaker end to end, against the TestServer ----------------------

class BalancerBreakerTest : public BalancerTest {
 protected:
  cpc::Balancer& make_live(cpc::BalancerConfig config) {
    start_pool(cpc::Config{});
    id_ = pool().create_balancer(std::move(config));
    cpc::Balancer& b = *pool().balancer(id_);
    b.set_clock_for_test([this] { return now_; });
    cpc::EndpointSpec spec;
    spec.origin = origin();
    spec.host = "127.0.0.1";
    spec.port = server_->port();
    spec.host_header = "127.0.0.1:" + std::to_string(server_->port());
    b.add_endpoint(spec);
    return b;
  }
  // One balanced GET, run to its result.
  const Result& get(uintptr_t id) {
    cpc::BalancedArgs a;
    a.balancer = id_;
    a.method = "GET";
    a.target = "/";
    a.timeout_ms = 0;
    a.user = reinterpret_cast<void*>(id);
    uint64_t handle = 0;
    pool().execute_balanced(a, &handle);
    EXPECT_TRUE(run_until([&] { return sink_.find(id) != nullptr; })) << "request " << id;
    return *sink_.find(id);
  }
  std::vector<std::string> breaker_events() const {
    std::vector<std::string> out;
    for (const cpc::Event& e : sink_.events) {
      if (e.type == cpc::EventType::kEndpointBreaker) out.push_back(e.state + ">" + e.detail);
    }
    return out;
  }
  void answer(int status) {
    server_->script.respond = [status](const ServerRequest& r) { return http_response(r.target, status); };
  }
};

TEST_F(BalancerBreakerTest, OpensThenAfterTheCooldownOneHalfOpenRequestClosesIt) {
  cpc::BalancerConfig config;
  config.attempts = 1;
  config.breaker_failures = 2;
  config.breaker_cooldown_ms = 1000;
  config.dead_after_failures = 100;
  make_live(config);
  answer(503);
  EXPECT_EQ(get(1).status, 503);
  EXPECT_EQ(get(2).status, 503);
  // Open: nothing is sent until the cooldown has passed.
  EXPECT_EQ(get(3).error.code, cpc::ErrorCode::kNoEndpoint);
  now_ += 999;
  EXPECT_EQ(get(4).error.code, cpc::ErrorCode::kNoEndpoint);
  EXPECT_EQ(server_->requests().size(), 2u);
  now_ += 1;
  answer(200);
  EXPECT_EQ(get(5).status, 200);
  EXPECT_EQ(server_->requests().size(), 3u);
  EXPECT_EQ(breaker_events(), (std::vector<std::string>{"closed>open", "open>half-open", "half-open>closed"}));
}

TEST_F(BalancerBreakerTest, AFailedHalfOpenRequestReopensForAnotherCooldown) {
  cpc::BalancerConfig config;
  config.attempts = 1;
  config.breaker_failures = 1;
  config.breaker_cooldown_ms = 1000;
  config.dead_after_failures = 100;
  make_live(config);
  answer(503);
  EXPECT_EQ(get(1).status, 503);
  now_ += 1000;
  EXPECT_EQ(get(2).status, 503);  // the half-open request fails
  EXPECT_EQ(get(3).error.code, cpc::ErrorCode::kNoEndpoint);
  now_ += 1000;
  answer(200);
  EXPECT_EQ(get(4).status, 200);
  EXPECT_EQ(server_->requests().size(), 3u);
  EXPECT_EQ(breaker_events(), (std::vector<std::string>{"closed>open", "open>half-open", "half-open>open",
                                                        "open>half-open", "half-open>closed"}));
}

TEST_F(BalancerBreakerTest, ProbesWaitForTheCooldownAndOneHalfOpenProbeClosesIt) {
  cpc::BalancerConfig config;
  config.attempts = 1;
  config.breaker_failures = 1;
  config.breaker_cooldown_ms = 1000;
  config.probe_interval_ms = 3600000;  // the test sends the probes itself
  config.probe_path = "/probe";
  cpc::Balancer& b = make_live(config);
  answer(503);
  EXPECT_EQ(get(1).status, 503);
  answer(200);
  BalancerTestPeer::send_probes(b);  // open, not cooled down: no probe (a probe now
                                     // would close it directly: see the events below)
  now_ += 1000;
  BalancerTestPeer::send_probes(b);
  BalancerTestPeer::send_probes(b);  // the half-open probe is out: no second one
  ASSERT_TRUE(run_until([&] { return BalancerTestPeer::stats(b, 0).breaker == Breaker::kClosed; }));
  ASSERT_EQ(server_->requests().size(), 2u);
  EXPECT_EQ(server_->requests()[1].target, "/probe");
  EXPECT_EQ(breaker_events(), (std::vector<std::string>{"closed>open", "open>half-open", "half-open>closed"}));
}

}  // namespace
}  // namespace cpc_test
