// BalancedPool routing (API.md "BalancedPool"): one logical endpoint served
// by several origins of the same Pool. Routing state and every decision
// live here, beside the origin pools: endpoint health (EWMA of response
// times + consecutive failures), a circuit breaker per endpoint, the
// strategy, retries with backoff and full jitter within a retry budget, and
// health probes on one timer per balancer. No JS runs per decision.
//
// A balanced request is an ordinary Request slot with `balanced` set: the
// Pool hands every finished attempt to on_attempt_done(), which records it
// and either lets the result go to JS or takes the slot back and schedules
// the next attempt on the slot's retry timer (never inside the call, so no
// origin pool is re-entered while it is settling).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "core/request.h"

namespace cpc {

class Pool;
class OriginPool;

enum class Strategy : uint8_t { kRoundRobin, kLeastPending, kLeastLatency };
enum class Health : uint8_t { kHealthy, kDegraded, kUnhealthy, kDead };
enum class Breaker : uint8_t { kClosed, kOpen, kHalfOpen };

const char* health_name(Health h);
// A Retry-After value (RFC 9110 10.2.3) as a delay in ms: delay-seconds, or
// an IMF-fixdate relative to now_unix_ms (a past date is 0). 0 when absent
// or malformed. The caller caps it (maxDelayMs).
uint64_t parse_retry_after_ms(std::string_view value, int64_t now_unix_ms);
const char* breaker_name(Breaker b);

struct BalancerConfig {
  Strategy strategy = Strategy::kRoundRobin;
  // Health probes: off when probe_interval_ms == 0.
  uint64_t probe_interval_ms = 0;
  uint64_t probe_timeout_ms = 2000;
  std::string probe_method = "GET";
  std::string probe_path = "/";
  std::vector<std::pair<std::string, std::string>> probe_headers;
  std::string probe_body;
  // Health classes (API.md defaults).
  double healthy_below_ms = 50;
  double degraded_below_ms = 200;
  uint32_t unhealthy_after_failures = 3;
  uint32_t dead_after_failures = 5;
  // Circuit breaker.
  uint32_t breaker_failures = 5;
  uint64_t breaker_cooldown_ms = 10000;
  // Retries.
  uint32_t attempts = 3;          // total tries per request, first included
  uint64_t base_delay_ms = 50;
  uint64_t max_delay_ms = 2000;
  double budget_percent = 20;     // retries per recent requests, in percent
};

struct EndpointSpec {
  std::string origin;       // "http://10.0.0.1:8545"
  std::string host;         // to connect; IPv6 without brackets
  uint16_t port = 0;
  bool https = false;
  std::string host_header;  // URL.host
};

struct EndpointStats {
  std::string origin;
  Health health = Health::kHealthy;
  Breaker breaker = Breaker::kClosed;
  double ewma_ms = 0;       // 0 until the first sample
  uint64_t inflight = 0;
  uint64_t requests = 0;
  uint64_t failures = 0;
  uint32_t consecutive_failures = 0;
  Error last_error;
};

// What a balanced attempt carries besides the Request (per slot, reused).
struct BalancedAttempt {
  uint32_t balancer = 0;      // Pool-wide balancer id
  int32_t endpoint = -1;      // index in Balancer::endpoints_ of this attempt
  uint32_t attempts = 0;      // attempts started
  uint64_t tried = 0;         // bitmask of endpoints tried (first 64)
  bool idempotent = false;    // the method, or init.idempotent
  bool probe = false;         // a health probe: no JS promise
  bool half_open = false;     // this attempt is its endpoint's one half-open request
  uint64_t attempt_start_ns = 0;
  uint64_t deadline_ms = 0;   // uv_now deadline of the whole request; 0 = none
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
};

class Balancer {
 public:
  Balancer(Pool* pool, uint32_t id, BalancerConfig config);
  ~Balancer();
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  uint32_t id() const { return id_; }
  void add_endpoint(const EndpointSpec& spec);
  // Stops routing to it; its in-flight work finishes and its idle sockets close.
  bool remove_endpoint(const std::string& origin);
  void stats(std::vector<EndpointStats>* out) const;
  // Stops probes and closes the timer; requests in flight finish.
  void close();
  bool closed() const { return closed_; }

  // --- for Pool -------------------------------------------------------------
  // Starts (or continues) a balanced request: picks an endpoint and submits
  // the attempt. False when no endpoint can take it (req->error is set).
  bool start_attempt(Request* req);
  enum class Verdict : uint8_t { kDeliver, kRetrying, kDiscard };
  // A finished attempt: record it, then deliver, retry, or discard (probes).
  Verdict on_attempt_done(Request* req);
  void on_retry_due(Request* req);
  void on_timer_closed();
  bool timer_open() const { return timer_open_; }

  // --- for tests (test/cpp/balancer_test.cc) --------------------------------
  // A clock (ms) in place of the loop's, for breaker cooldowns, the retry
  // budget window and request deadlines; and a fixed seed for the jitter.
  void set_clock_for_test(std::function<uint64_t()> now_ms) {
    clock_ = std::move(now_ms);
    window_start_ms_ = clock_();
  }
  void seed_for_test(uint64_t seed) { rng_ = seed | 1; }

 private:
  struct Endpoint {
    EndpointSpec spec;
    EndpointStats stats;
    OriginPool* origin = nullptr;  // Borrowed; the Pool owns origin pools.
    uint64_t opened_at_ms = 0;     // breaker opened
    bool half_open_probe = false;  // the one half-open request is out
    bool probe_inflight = false;
    bool removed = false;
  };

  friend class BalancerTestPeer;  // test/cpp/balancer_test.cc: the decisions one by one

  uint64_t now_ms() const;  // clock_, else uv_now of the pool's loop
  static void on_probe_timer(uv_timer_t* t);
  static void on_timer_closed_cb(uv_handle_t* h);
  int pick(const Request* req);
  // What the breaker alone allows at `now_ms` (requests and probes alike):
  // closed yes, open once cooled down, half-open while its one request is free.
  bool breaker_admits(const Endpoint& e, uint64_t now_ms) const;
  bool eligible(const Endpoint& e, uint64_t now_ms) const;
  void record(Endpoint& e, const Request* req, bool failed, const Error& err, double ms);
  void set_health(Endpoint& e, Health to, const char* reason);
  void set_breaker(Endpoint& e, Breaker to);
  bool may_retry(const Request* req, uint64_t* delay_ms);
  bool budget_allows();
  void note_request();
  uint64_t jitter(uint64_t max);
  void send_probes();
  Error no_endpoint_error() const;

  Pool* const pool_;   // Borrowed; the Pool owns this balancer.
  const uint32_t id_;
  const BalancerConfig config_;
  std::vector<Endpoint> endpoints_;  // removed ones stay (indices are in flight)
  size_t rr_next_ = 0;
  uint64_t picks_ = 0;
  uint64_t rng_;
  std::function<uint64_t()> clock_;  // empty: uv_now of the pool's loop
  // Retry budget: counts over the current and the previous 10 s window.
  uint64_t window_start_ms_ = 0;
  double requests_now_ = 0, requests_prev_ = 0;
  double retries_now_ = 0, retries_prev_ = 0;
  // Owned: the probe timer (one per balancer). Closed in close();
  // timer_.data == this. The Balancer is freed only after its close callback.
  uv_timer_t timer_;
  bool timer_open_ = false;
  bool closed_ = false;
};

}  // namespace cpc
