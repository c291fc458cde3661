#include "core/balancer.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>

#include "core/origin_pool.h"
#include "core/pool.h"

namespace cpc {
namespace {

constexpr double kEwmaWeight = 0.3;       // weight of a new sample
constexpr uint64_t kBudgetWindowMs = 10000;
constexpr double kMinRetriesPerWindow = 3;
constexpr uint64_t kExploreEvery = 16;   // least-latency: 1 pick in 16 goes round-robin

bool retryable_status(uint16_t s) { return s == 502 || s == 503 || s == 504 || s == 429; }

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool digits(std::string_view v, size_t at, size_t n, unsigned* out) {
  unsigned x = 0;
  for (size_t i = at; i < at + n; i++) {
    if (v[i] < '0' || v[i] > '9') return false;
    x = x * 10 + static_cast<unsigned>(v[i] - '0');
  }
  *out = x;
  return true;
}

// IMF-fixdate (RFC 9110 5.6.7), "Sun, 06 Nov 1994 08:49:37 GMT", to Unix
// seconds. The obsolete RFC 850 and asctime forms are not accepted.
bool parse_imf_fixdate(std::string_view v, int64_t* unix_s) {
  static const char* const kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (v.size() != 29 || v.substr(3, 2) != ", " || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
      v[19] != ':' || v[22] != ':' || v.substr(25) != " GMT") {
    return false;
  }
  if (std::none_of(std::begin(kDays), std::end(kDays), [&](const char* d) { return v.substr(0, 3) == d; })) {
    return false;
  }
  unsigned month = 0;
  for (unsigned i = 0; i < 12; i++) {
    if (v.substr(8, 3) == kMonths[i]) month = i + 1;
  }
  unsigned day, year, hh, mm, ss;
  if (month == 0 || !digits(v, 5, 2, &day) || !digits(v, 12, 4, &year) || !digits(v, 17, 2, &hh) ||
      !digits(v, 20, 2, &mm) || !digits(v, 23, 2, &ss)) {
    return false;
  }
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return false;
  *unix_s = days_from_civil(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss;
  return true;
}

uint64_t retry_after_ms(const Response& r) {
  uv_timeval64_t tv;
  int64_t now_ms = 0;
  if (uv_gettimeofday(&tv) == 0) now_ms = tv.tv_sec * 1000 + tv.tv_usec / 1000;
  return parse_retry_after_ms(r.find_header("retry-after"), now_ms);
}

}  // namespace

uint64_t parse_retry_after_ms(std::string_view v, int64_t now_unix_ms) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return 0;
  if (v[0] >= '0' && v[0] <= '9') {
    // delay-seconds; more than 9 digits is past any maxDelayMs anyway.
    unsigned n = 0;
    if (v.size() > 9 || !digits(v, 0, v.size(), &n)) return 0;
    return static_cast<uint64_t>(n) * 1000;
  }
  int64_t at_s = 0;
  if (!parse_imf_fixdate(v, &at_s)) return 0;
  const int64_t delta = at_s * 1000 - now_unix_ms;
  return delta > 0 ? static_cast<uint64_t>(delta) : 0;  // a past date: retry at once
}

const char* health_name(Health h) {
  switch (h) {
    case Health::kHealthy: return "healthy";
    case Health::kDegraded: return "degraded";
    case Health::kUnhealthy: return "unhealthy";
    case Health::kDead: return "dead";
  }
  return "unknown";
}

const char* breaker_name(Breaker b) {
  switch (b) {
    case Breaker::kClosed: return "closed";
    case Breaker::kOpen: return "open";
    case Breaker::kHalfOpen: return "half-open";
  }
  return "unknown";
}

Balancer::Balancer(Pool* pool, uint32_t id, BalancerConfig config)
    : pool_(pool), id_(id), config_(std::move(config)), rng_(uv_hrtime() | 1) {
  uv_timer_init(pool_->loop(), &timer_);
  timer_.data = this;
  timer_open_ = true;
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  if (config_.probe_interval_ms > 0) {
    uv_timer_start(&timer_, on_probe_timer, config_.probe_interval_ms, config_.probe_interval_ms);
  }
  window_start_ms_ = now_ms();
}

Balancer::~Balancer() = default;

uint64_t Balancer::now_ms() const { return clock_ ? clock_() : uv_now(pool_->loop()); }

void Balancer::add_endpoint(const EndpointSpec& spec) {
  for (Endpoint& e : endpoints_) {
    if (e.spec.origin == spec.origin && !e.removed) return;  // already a member
  }
  Endpoint e;
  e.spec = spec;
  e.stats.origin = spec.origin;
  e.origin = pool_->origin_for(spec.origin, spec.host, spec.port, spec.https);
  e.origin->add_balancer_ref();
  endpoints_.push_back(std::move(e));
}

bool Balancer::remove_endpoint(const std::string& origin) {
  for (Endpoint& e : endpoints_) {
    if (e.spec.origin == origin && !e.removed) {
      e.removed = true;
      // In-flight work finishes; the sockets close only if no other user
      // (another balancer, direct execute()) has the origin.
      e.origin->drop_balancer_ref();
      return true;
    }
  }
  return false;
}

void Balancer::stats(std::vector<EndpointStats>* out) const {
  for (const Endpoint& e : endpoints_) {
    if (!e.removed) out->push_back(e.stats);
  }
}

void Balancer::close() {
  if (closed_) return;
  closed_ = true;
  if (timer_open_) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed_cb);
}

void Balancer::on_timer_closed_cb(uv_handle_t* h) {
  Balancer* b = static_cast<Balancer*>(h->data);
  b->on_timer_closed();
}

void Balancer::on_timer_closed() {
  timer_open_ = false;
  pool_->on_balancer_timer_closed(this);
}

uint64_t Balancer::jitter(uint64_t max) {
  // xorshift64: full-jitter backoff needs spread, not cryptographic quality.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return max == 0 ? 0 : rng_ % (max + 1);
}

void Balancer::note_request() {
  const uint64_t now = now_ms();
  if (now - window_start_ms_ >= kBudgetWindowMs) {
    const bool skipped = now - window_start_ms_ >= 2 * kBudgetWindowMs;
    requests_prev_ = skipped ? 0 : requests_now_;
    retries_prev_ = skipped ? 0 : retries_now_;
    requests_now_ = retries_now_ = 0;
    window_start_ms_ = now;
  }
}

bool Balancer::budget_allows() {
  note_request();
  const double requests = requests_now_ + requests_prev_;
  const double allowed = std::max(kMinRetriesPerWindow, requests * config_.budget_percent / 100.0);
  if (retries_now_ + retries_prev_ + 1 > allowed) return false;
  retries_now_ += 1;
  return true;
}

bool Balancer::breaker_admits(const Endpoint& e, uint64_t now_ms) const {
  switch (e.stats.breaker) {
    case Breaker::kClosed:
      return true;
    case Breaker::kOpen:
      // Cooled down: it may take the one half-open request. Only the
      // endpoint actually chosen turns half-open (start_attempt).
      return now_ms - e.opened_at_ms >= config_.breaker_cooldown_ms;
    case Breaker::kHalfOpen:
      return !e.half_open_probe;  // one request only
  }
  return false;
}

bool Balancer::eligible(const Endpoint& e, uint64_t now_ms) const {
  if (e.removed) return false;
  // With probes on, a dead endpoint gets nothing but probes until one
  // succeeds, whatever its breaker says.
  if (e.stats.health == Health::kDead && config_.probe_interval_ms > 0) return false;
  return breaker_admits(e, now_ms);
}

int Balancer::pick(const Request* req) {
  const uint64_t now = now_ms();
  const BalancedAttempt& att = *req->balanced;
  const size_t n = endpoints_.size();
  if (n == 0) return -1;
  // Candidates: eligible, preferring endpoints this request has not tried,
  // then the best health class among them.
  std::vector<int> cand;
  cand.reserve(n);
  for (size_t i = 0; i < n; i++) {
    if (eligible(endpoints_[i], now)) cand.push_back(static_cast<int>(i));
  }
  if (cand.empty()) return -1;
  auto untried = [&](int i) { return i >= 64 || !(att.tried & (uint64_t{1} << i)); };
  if (std::any_of(cand.begin(), cand.end(), untried)) {
    cand.erase(std::remove_if(cand.begin(), cand.end(), [&](int i) { return !untried(i); }), cand.end());
  }
  Health best = Health::kDead;
  for (int i : cand) best = std::min(best, endpoints_[i].stats.health);
  cand.erase(std::remove_if(cand.begin(), cand.end(),
                            [&](int i) { return endpoints_[i].stats.health != best; }),
             cand.end());
  // Round-robin order starting after the last pick: the tie-breaker of every strategy.
  auto rr_rank = [&](int i) { return (static_cast<size_t>(i) + n - rr_next_ % n) % n; };
  std::sort(cand.begin(), cand.end(), [&](int a, int b) { return rr_rank(a) < rr_rank(b); });
  int chosen = cand.front();
  picks_++;
  switch (config_.strategy) {
    case Strategy::kRoundRobin:
      break;
    case Strategy::kLeastPending:
      for (int i : cand) {
        if (endpoints_[i].stats.inflight < endpoints_[chosen].stats.inflight) chosen = i;
      }
      break;
    case Strategy::kLeastLatency: {
      // No sample yet: try it first. Otherwise the lowest EWMA, except for
      // an occasional round-robin pick so a recovered endpoint is noticed.
      auto unsampled = std::find_if(cand.begin(), cand.end(), [&](int i) {
        return endpoints_[i].stats.ewma_ms == 0;
      });
      if (unsampled != cand.end()) {
        chosen = *unsampled;
      } else if (picks_ % kExploreEvery != 0) {
        for (int i : cand) {
          if (endpoints_[i].stats.ewma_ms < endpoints_[chosen].stats.ewma_ms) chosen = i;
        }
      } else {
        // Explore in turn: "the one after the last pick" would always be the
        // one after the fastest, and the others would never be sampled.
        chosen = cand[(picks_ / kExploreEvery) % cand.size()];
      }
      break;
    }
  }
  rr_next_ = static_cast<size_t>(chosen) + 1;
  return chosen;
}

bool Balancer::start_attempt(Request* req) {
  BalancedAttempt& att = *req->balanced;
  const int i = att.probe ? att.endpoint : pick(req);
  if (i < 0) {
    req->error = no_endpoint_error();
    return false;
  }
  Endpoint& e = endpoints_[static_cast<size_t>(i)];
  // An open breaker is only picked (or probed, send_probes) once it has
  // cooled down: this attempt is then its one half-open request.
  if (e.stats.breaker == Breaker::kOpen) set_breaker(e, Breaker::kHalfOpen);
  att.half_open = e.stats.breaker == Breaker::kHalfOpen;
  if (att.half_open) e.half_open_probe = true;
  att.endpoint = i;
  att.attempts++;
  if (i < 64) att.tried |= uint64_t{1} << i;
  att.attempt_start_ns = uv_hrtime();
  e.stats.inflight++;
  if (att.attempts == 1 && !att.probe) {
    note_request();
    requests_now_ += 1;
  }
  Error err = pool_->submit_attempt(req, e.origin, e.spec.host_header);
  if (!err.ok()) {
    e.stats.inflight--;
    if (att.half_open) e.half_open_probe = false;  // nothing went out: the slot is free again
    req->error = std::move(err);
    return false;
  }
  return true;
}

void Balancer::set_health(Endpoint& e, Health to, const char* reason) {
  if (e.stats.health == to) return;
  Event ev;
  ev.type = EventType::kEndpointHealth;
  ev.balancer = id_;
  ev.origin = e.spec.origin;
  ev.state = health_name(e.stats.health);
  ev.detail = health_name(to);
  ev.note = reason;
  e.stats.health = to;
  pool_->emit(std::move(ev));
}

void Balancer::set_breaker(Endpoint& e, Breaker to) {
  if (e.stats.breaker == to) return;
  Event ev;
  ev.type = EventType::kEndpointBreaker;
  ev.balancer = id_;
  ev.origin = e.spec.origin;
  ev.state = breaker_name(e.stats.breaker);
  ev.detail = breaker_name(to);
  e.stats.breaker = to;
  if (to == Breaker::kOpen) e.opened_at_ms = now_ms();
  if (to != Breaker::kHalfOpen) e.half_open_probe = false;
  pool_->emit(std::move(ev));
}

void Balancer::record(Endpoint& e, const Request* req, bool failed, const Error& err, double ms) {
  EndpointStats& s = e.stats;
  const bool probe = req->balanced->probe;
  if (!probe) s.requests++;
  if (failed) {
    if (!probe) s.failures++;
    s.consecutive_failures++;
    s.last_error = err;
    s.last_error.origin = e.spec.origin;
    if (s.breaker == Breaker::kHalfOpen ||
        (s.breaker == Breaker::kClosed && s.consecutive_failures >= config_.breaker_failures)) {
      set_breaker(e, Breaker::kOpen);
    }
  } else {
    s.consecutive_failures = 0;
    s.ewma_ms = s.ewma_ms == 0 ? ms : kEwmaWeight * ms + (1 - kEwmaWeight) * s.ewma_ms;
    // Only the half-open request closes the breaker: a success that was in
    // flight before it opened proves nothing about the endpoint now.
    if (s.breaker == Breaker::kHalfOpen && req->balanced->half_open) set_breaker(e, Breaker::kClosed);
  }
  // Failures decide by count; a success by the response-time class.
  Health to = s.health;
  const char* reason = "consecutive-failures";
  if (s.consecutive_failures >= config_.dead_after_failures) {
    to = Health::kDead;
  } else if (s.consecutive_failures >= config_.unhealthy_after_failures) {
    to = Health::kUnhealthy;
  } else if (!failed) {
    reason = probe ? "probe" : "latency";
    to = s.ewma_ms < config_.healthy_below_ms    ? Health::kHealthy
         : s.ewma_ms < config_.degraded_below_ms ? Health::kDegraded
                                                 : Health::kUnhealthy;
  }
  set_health(e, to, reason);
}

Error Balancer::no_endpoint_error() const {
  Error err = make_error(ErrorCode::kNoEndpoint, "No endpoint left to try");
  for (const Endpoint& e : endpoints_) {
    if (e.removed || e.stats.last_error.ok()) continue;
    err.causes.push_back(e.stats.last_error);
  }
  return err;
}

// API.md's rule, asked in Go's order: a failure before any byte was
// written may always go elsewhere; anything that reached a server only
// for idempotent requests; 502/503/504/429 responses likewise.
bool Balancer::may_retry(const Request* req, uint64_t* delay_ms) {
  const BalancedAttempt& att = *req->balanced;
  const Error& err = req->error;
  if (err.code == ErrorCode::kAborted || err.code == ErrorCode::kClosed ||
      err.code == ErrorCode::kRequestTimeout) {
    return false;
  }
  bool eligible;
  uint64_t hinted = 0;
  if (!err.ok()) {
    eligible = !req->sent || att.idempotent;
  } else {
    eligible = att.idempotent && retryable_status(req->response.status);
    if (eligible && (req->response.status == 429 || req->response.status == 503)) {
      hinted = retry_after_ms(req->response);
    }
  }
  if (!eligible || att.attempts >= config_.attempts || closed_) return false;
  const uint32_t shift = std::min<uint32_t>(att.attempts - 1, 20);
  uint64_t delay = jitter(std::min(config_.max_delay_ms, config_.base_delay_ms << shift));
  if (hinted > delay) delay = std::min(hinted, config_.max_delay_ms);
  if (att.deadline_ms && now_ms() + delay >= att.deadline_ms) return false;
  if (!budget_allows()) return false;
  *delay_ms = delay;
  return true;
}

Balancer::Verdict Balancer::on_attempt_done(Request* req) {
  BalancedAttempt& att = *req->balanced;
  // Timed out or aborted between attempts: the last attempt was recorded.
  if (req->phase == Request::Phase::kBackoff) return Verdict::kDeliver;
  if (att.endpoint < 0) return att.probe ? Verdict::kDiscard : Verdict::kDeliver;
  Endpoint& e = endpoints_[static_cast<size_t>(att.endpoint)];
  if (e.stats.inflight > 0) e.stats.inflight--;
  const double ms = static_cast<double>(uv_hrtime() - att.attempt_start_ns) / 1e6;
  const Error& err = req->error;
  const bool user_ended = err.code == ErrorCode::kAborted || err.code == ErrorCode::kClosed;
  bool failed;
  Error cause = err;
  if (!err.ok()) {
    failed = !user_ended;
  } else if (att.probe) {
    failed = req->response.status >= 500;
  } else {
    failed = req->response.status == 502 || req->response.status == 503 ||
             req->response.status == 504;
  }
  if (err.ok() && failed) {
    cause = make_error(ErrorCode::kHttpStatus,
                       "The endpoint answered HTTP " + std::to_string(req->response.status),
                       std::to_string(req->response.status));
  }
  // Only the half-open request itself frees the half-open slot; one sent
  // before the breaker opened may finish meanwhile.
  if (att.half_open) e.half_open_probe = false;
  if (!user_ended) record(e, req, failed, cause, ms);
  if (att.probe) {
    e.probe_inflight = false;
    return Verdict::kDiscard;
  }
  uint64_t delay = 0;
  if (may_retry(req, &delay)) {
    req->phase = Request::Phase::kBackoff;
    uv_timer_start(&req->retry_timer, Pool::on_retry_timer, delay, 0);
    return Verdict::kRetrying;
  }
  // Given up on a failure that another endpoint could have served: say so,
  // with every endpoint's last error.
  if (!err.ok() && !user_ended && err.code != ErrorCode::kRequestTimeout &&
      (!req->sent || att.idempotent) && att.attempts > 1) {
    req->error = no_endpoint_error();
  }
  return Verdict::kDeliver;
}

void Balancer::on_retry_due(Request* req) {
  req->error.clear();
  req->response.clear();
  if (!start_attempt(req)) pool_->finish_balanced(req);
}

void Balancer::on_probe_timer(uv_timer_t* t) {
  Balancer* b = static_cast<Balancer*>(t->data);
  Pool::Entry entry(*b->pool_);
  b->send_probes();
}

void Balancer::send_probes() {
  if (closed_) return;
  const uint64_t now = now_ms();
  for (size_t i = 0; i < endpoints_.size(); i++) {
    Endpoint& e = endpoints_[i];
    if (e.removed || e.probe_inflight) continue;
    // The breaker decides for probes too (API.md): nothing while open; once
    // cooled down the probe may be the one half-open request.
    if (!breaker_admits(e, now)) continue;
    e.probe_inflight = true;
    if (!pool_->start_probe(this, static_cast<int32_t>(i), config_)) e.probe_inflight = false;
  }
}

}  // namespace cpc
