#include "core/pool.h"

#include <cassert>
#include <utility>

namespace cpc {
namespace {

// Free request slots kept after a burst. A slot with its kept capacity
// costs about 1 KiB, so a burst of 1,000 requests would otherwise pin
// ~1 MiB for the pool's lifetime. Kept: this many spare slots, plus, at
// each sweep, as many as the busiest moment since the previous sweep
// needed (steady traffic never frees and re-allocates its slots).
constexpr size_t kSpareSlots = 32;
// When the last live request is delivered and more than this many slots
// are free, a burst has just ended: trim down to kSpareSlots at once.
constexpr size_t kQuietTrimAbove = 128;

uint64_t k_pending(const Counters& k) {
  const uint64_t ended = k.completed_requests + k.failed_requests;
  return k.total_requests > ended ? k.total_requests - ended : 0;
}

}  // namespace

Request::Request(Pool* owner, uint32_t index) : pool(owner), slot(index) {}
Request::~Request() = default;

Pool::Pool(uv_loop_t* loop, const Config& config, PoolSink* sink, TlsOptions tls)
    : loop_(loop), config_(config), sink_(sink), tls_options_(std::move(tls)) {
  uv_timer_init(loop_, &sweep_timer_);
  sweep_timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_timer_));
  open_handles_++;
  uv_timer_init(loop_, &kick_timer_);
  kick_timer_.data = this;
  open_handles_++;
  uv_check_init(loop_, &check_);
  check_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  open_handles_++;
}

Pool::~Pool() {
  // Deleted only after on_shutdown_complete(): nothing is open any more.
  assert(all_handles_closed());
  assert(live_requests_ == 0);
  while (free_slots_.pop_front()) {
  }
}

OriginPool* Pool::origin_for(std::string_view key, std::string_view host, uint16_t port,
                             bool https) {
  if (last_origin_ && last_origin_->key() == key) return last_origin_;
  std::string k(key);
  auto it = origins_.find(k);
  if (it == origins_.end()) {
    auto origin = std::make_unique<OriginPool>(this, k, std::string(host), port, https);
    it = origins_.emplace(std::move(k), std::move(origin)).first;
  }
  last_origin_ = it->second.get();
  return last_origin_;
}

Request* Pool::acquire_slot() {
  Request* req = free_slots_.pop_front();
  if (!req) {
    uint32_t index = static_cast<uint32_t>(slots_.size());
    uint32_t generation = 0;
    if (!spare_indices_.empty()) {
      index = spare_indices_.back().index;
      generation = spare_indices_.back().generation;
      spare_indices_.pop_back();
      slots_[index] = std::make_unique<Request>(this, index);
    } else {
      slots_.push_back(std::make_unique<Request>(this, index));
    }
    req = slots_[index].get();
    req->generation = generation;
    uv_timer_init(loop_, &req->timer);
    req->timer.data = req;
    uv_unref(reinterpret_cast<uv_handle_t*>(&req->timer));
    uv_timer_init(loop_, &req->retry_timer);
    req->retry_timer.data = req;
    open_handles_ += 2;
  }
  req->generation++;
  live_requests_++;
  if (live_requests_ > peak_live_) peak_live_ = live_requests_;
  return req;
}

void Pool::trim_slots(size_t keep_free) {
  // The most recently released slots are reused first (pop_front): free
  // from the back, the ones that have been waiting longest.
  while (free_slots_.size() > keep_free) {
    Request* req = free_slots_.pop_back();
    req->trim_closes = 2;
    uv_close(reinterpret_cast<uv_handle_t*>(&req->timer), on_trimmed_timer_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&req->retry_timer), on_trimmed_timer_closed);
  }
}

void Pool::on_trimmed_timer_closed(uv_handle_t* h) {
  Request* req = static_cast<Request*>(h->data);
  Pool* pool = req->pool;
  Entry entry(*pool);
  pool->open_handles_--;
  if (--req->trim_closes > 0) return;
  const uint32_t index = req->slot;
  pool->spare_indices_.push_back(SpareIndex{index, req->generation});
  pool->slots_[index].reset();  // deletes req
}

void Pool::release_slot(Request* req) {
  if (req->timer_armed) {
    uv_timer_stop(&req->timer);
    req->timer_armed = false;
  }
  if (req->is_balanced) {
    uv_timer_stop(&req->retry_timer);
    req->is_balanced = false;
  }
  req->sent = false;
  req->phase = Request::Phase::kFree;
  req->origin = nullptr;
  req->conn = nullptr;
  req->user = nullptr;
  req->attempt = 0;
  req->reused = false;
  req->error.clear();
  // Big bodies should not pin memory in an idle slot.
  if (req->body.capacity() > 64 * 1024) std::string().swap(req->body);
  if (req->response.body.capacity() > 256 * 1024) std::string().swap(req->response.body);
  req->response.clear();
  assert(live_requests_ > 0);
  live_requests_--;
  free_slots_.push_back(req);
}

Request* Pool::find_live(uint64_t handle) const {
  const uint32_t slot = static_cast<uint32_t>(handle & 0xFFFFFFFFu);
  const uint32_t gen = static_cast<uint32_t>(handle >> 32);
  if (slot >= slots_.size()) return nullptr;
  Request* req = slots_[slot].get();
  if (!req) return nullptr;
  if ((req->generation & Request::kGenerationMask) != gen) return nullptr;
  if (req->phase == Request::Phase::kFree || req->phase == Request::Phase::kDone) return nullptr;
  return req;
}

void Pool::reject_now(Request* req, Error err) {
  counters_.total_requests++;
  counters_.failed_requests++;
  req->error = std::move(err);
  req->start_ns = req->done_ns = uv_hrtime();
  complete(req);
}

void Pool::execute(const ExecuteArgs& a, uint64_t* handle) {
  Entry entry(*this, From::kCall);
  Request* req = acquire_slot();
  req->user = a.user;
  *handle = req->handle();
  if (closing_) return reject_now(req, make_error(ErrorCode::kClosed, "The pool is closed"));
  RequestSpec spec;
  spec.method = a.method;
  spec.target = a.target;
  spec.host_header = a.host_header;
  spec.headers = a.headers;
  spec.header_count = a.header_count;
  spec.body_length = a.body_length;
  spec.keep_alive = config_.keep_alive;
  RequestTraits traits;
  Error err;
  if (!head_cache_.write(spec, &req->head, &traits, &err)) return reject_now(req, std::move(err));
  req->body.assign(a.body ? a.body : "", a.body_length);
  req->idempotent = traits.idempotent;
  req->head_request = traits.head;
  req->close_after = traits.close_after || !config_.keep_alive;
  req->start_ns = uv_hrtime();
  req->assigned_ns = req->first_byte_ns = req->done_ns = 0;
  const uint64_t timeout = a.timeout_ms < 0 ? config_.timeout_ms : static_cast<uint64_t>(a.timeout_ms);
  OriginPool* origin = origin_for(a.origin_key, a.host, a.port, a.https);
  origin->note_direct_use();
  // submit() refreshes the loop clock before it picks an idle socket; the
  // request timer below is armed from that fresh clock.
  err = origin->submit(req);
  if (!err.ok()) {
    req->origin = origin;
    return reject_now(req, std::move(err));
  }
  counters_.total_requests++;
  if (timeout > 0 && req->phase != Request::Phase::kDone) {
    uv_timer_start(&req->timer, on_request_timeout, timeout, 0);
    req->timer_armed = true;
  }
}

void Pool::on_request_timeout(uv_timer_t* t) {
  Request* req = static_cast<Request*>(t->data);
  Pool::Entry entry(*req->pool);
  req->timer_armed = false;
  if (!req->origin) return;
  req->origin->cancel(req, make_error(ErrorCode::kRequestTimeout, "The request timed out"));
}

bool Pool::abort(uint64_t handle, Error err) {
  Entry entry(*this, From::kCall);
  Request* req = find_live(handle);
  if (!req || !req->origin) return false;
  req->origin->cancel(req, std::move(err));
  return true;
}

void Pool::warmup(std::string_view key, std::string_view host, uint16_t port, bool https,
                  uint64_t count, void* user) {
  Entry entry(*this, From::kCall);
  if (closing_) {
    // Nothing to open: resolve with 0 idle sockets.
    notify(Notice{Notice::Kind::kWarmupDone, new WarmupOp{user, nullptr, 0}, 0});
    return;
  }
  OriginPool* origin = origin_for(key, host, port, https);
  origin->note_direct_use();
  auto* op = new WarmupOp{user, origin, 1};  // +1 held until every socket is opened
  op->remaining += origin->warmup(count, op);
  if (--op->remaining == 0) notify(Notice{Notice::Kind::kWarmupDone, op, 0});
}

void Pool::close(void* user) {
  Entry entry(*this, From::kCall);
  closing_ = true;
  close_pending_ = true;
  close_users_.push_back(user);
}

void Pool::destroy(Error err) {
  Entry entry(*this, From::kCall);
  closing_ = true;
  // Balanced requests between attempts are in no origin's lists.
  for (auto& slot : slots_) {
    if (slot && slot->phase == Request::Phase::kBackoff) slot->origin->cancel(slot.get(), err);
  }
  for (auto& b : balancers_) {
    if (b) b->close();
  }
  // Fail every live request first, then close every socket.
  for (auto& kv : origins_) kv.second->fail_all(err);
  for (auto& kv : origins_) kv.second->close_all(CloseReason::kPoolClosed);
}

void Pool::shutdown() {
  Entry entry(*this, From::kCall);
  if (shutting_down_) return;
  destroy(make_error(ErrorCode::kClosed, "The pool was destroyed"));
  shutting_down_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_), on_sweep_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&kick_timer_), on_kick_closed);
  check_armed_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), on_check_closed);
  for (auto& slot : slots_) {
    if (!slot || slot->trim_closes > 0) continue;  // freed, or closing (trim_slots)
    uv_close(reinterpret_cast<uv_handle_t*>(&slot->timer), on_slot_timer_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&slot->retry_timer), on_slot_timer_closed);
  }
  for (auto& b : balancers_) {
    if (b) b->close();
  }
}

void Pool::on_sweep_closed(uv_handle_t* h) {
  Pool* pool = static_cast<Pool*>(h->data);
  Entry entry(*pool);
  pool->open_handles_--;
}

void Pool::on_kick_closed(uv_handle_t* h) {
  Pool* pool = static_cast<Pool*>(h->data);
  Entry entry(*pool);
  pool->open_handles_--;
}

void Pool::on_check_closed(uv_handle_t* h) {
  Pool* pool = static_cast<Pool*>(h->data);
  Entry entry(*pool);
  pool->open_handles_--;
}

void Pool::on_check(uv_check_t* h) {
  Pool* pool = static_cast<Pool*>(h->data);
  uv_check_stop(h);
  pool->check_armed_ = false;
  Entry entry(*pool);  // a loop entry: settle() delivers the turn's reads
}

void Pool::on_kick(uv_timer_t* t) {
  Pool* pool = static_cast<Pool*>(t->data);
  Entry entry(*pool);  // a loop entry: settle() delivers as it ends
}

void Pool::on_slot_timer_closed(uv_handle_t* h) {
  Pool* pool = static_cast<Request*>(h->data)->pool;
  Entry entry(*pool);
  pool->open_handles_--;
}

void Pool::complete(Request* req) {
  if (req->is_balanced) {
    switch (balancers_[req->balanced->balancer]->on_attempt_done(req)) {
      case Balancer::Verdict::kRetrying:
        return;  // the slot (and its whole-request timer) lives on
      case Balancer::Verdict::kDiscard:  // a probe: nobody waits for it
        if (req->timer_armed) uv_timer_stop(&req->timer);
        req->timer_armed = false;
        release_slot(req);
        return;
      case Balancer::Verdict::kDeliver:
        break;
    }
  }
  finish_balanced(req);
}

void Pool::finish_balanced(Request* req) {
  if (req->timer_armed) {
    uv_timer_stop(&req->timer);
    req->timer_armed = false;
  }
  req->phase = Request::Phase::kDone;
  done_.push_back(req);
}

void Pool::emit(Event&& event) {
  if (events_enabled_) events_.push_back(std::move(event));
}

void Pool::on_connection_created(Connection* c) {
  registry_.push_back(c);
  arm_sweep();
}

void Pool::on_connection_freed(Connection* c) {
  registry_.remove(c);
  delete c;
  if (registry_.empty() && sweep_armed_ && !shutting_down_) {
    uv_timer_stop(&sweep_timer_);
    sweep_armed_ = false;
  }
}

void Pool::on_socket_released() {
  assert(open_sockets_ > 0);
  open_sockets_--;
  if (config_.max_total_sockets != kUnlimited) pump_needed_ = true;
}

bool Pool::evict_idle_elsewhere(OriginPool* except) {
  for (auto& kv : origins_) {
    if (kv.second.get() != except && kv.second->evict_one_idle()) return true;
  }
  return false;
}

void Pool::arm_sweep() {
  if (sweep_armed_ || shutting_down_) return;
  uv_timer_start(&sweep_timer_, on_sweep, config_.cleanup_period_ms, config_.cleanup_period_ms);
  sweep_armed_ = true;
}

void Pool::on_sweep(uv_timer_t* t) {
  Pool* pool = static_cast<Pool*>(t->data);
  Entry entry(*pool);
  pool->sweep_now();
}

uint64_t Pool::sweep_now() {
  Entry entry(*this, From::kCall);
  const uint64_t now = uv_now(loop_);
  for (auto& kv : origins_) kv.second->sweep(now);
  if (!shutting_down_) {
    // Keep what the busiest moment of the last period needed, plus spares.
    trim_slots(peak_live_ - live_requests_ + kSpareSlots);
    peak_live_ = live_requests_;
  }
  return audit();
}

// Every tracked socket must be connecting, active with a live request,
// idle in a free list, or closing. Anything else is a leak: counted,
// reported, and closed so it cannot pin a file descriptor.
uint64_t Pool::audit() {
  std::vector<Connection*> leaked;
  for (Connection* c = registry_.front(); c; c = registry_.next(c)) {
    std::string detail = c->origin->audit(c);
    if (detail.empty()) continue;
    leaked.push_back(c);
    counters_.socket_leaks++;
    if (events_enabled_) {
      Event ev;
      ev.type = EventType::kLeak;
      ev.id = c->id;
      ev.origin = c->origin->key();
      ev.state = Connection::state_name(c->state);
      ev.detail = std::move(detail);
      events_.push_back(std::move(ev));
    }
  }
  for (Connection* c : leaked) c->origin->reclaim(c);
  // The other side of a lost link: a request in flight on no socket would
  // wait for its timeout (or forever); fail it now.
  for (const auto& slot : slots_) {
    Request* req = slot.get();
    if (req && req->phase == Request::Phase::kInFlight && req->conn == nullptr && req->origin) {
      req->origin->cancel(req, make_error(ErrorCode::kSocketClosed,
                                          "The request's socket was lost (found by the leak audit)"));
    }
  }
  return leaked.size();
}

TlsContext* Pool::tls_context(Error* err) {
  if (!tls_ && tls_error_.ok()) {
    tls_ = TlsContext::create(tls_options_, &tls_error_);
  }
  if (!tls_) *err = tls_error_;
  return tls_.get();
}

uint32_t Pool::create_balancer(BalancerConfig config) {
  const uint32_t id = static_cast<uint32_t>(balancers_.size());
  balancers_.push_back(std::make_unique<Balancer>(this, id, std::move(config)));
  open_handles_++;  // its probe timer
  return id;
}

Balancer* Pool::balancer(uint32_t id) const {
  return id < balancers_.size() ? balancers_[id].get() : nullptr;
}

void Pool::on_balancer_timer_closed(Balancer* b) {
  Entry entry(*this);
  open_handles_--;
  (void)b;  // kept until the pool goes: stats stay readable after close()
}

void Pool::execute_balanced(const BalancedArgs& a, uint64_t* handle) {
  Entry entry(*this, From::kCall);
  Request* req = acquire_slot();
  req->user = a.user;
  *handle = req->handle();
  Balancer* b = balancer(a.balancer);
  if (closing_ || !b || b->closed()) {
    return reject_now(req, make_error(ErrorCode::kClosed, "The pool is closed"));
  }
  if (!req->balanced) req->balanced = std::make_unique<BalancedAttempt>();
  BalancedAttempt& att = *req->balanced;
  req->is_balanced = true;
  att.balancer = a.balancer;
  att.endpoint = -1;
  att.attempts = 0;
  att.tried = 0;
  att.probe = false;
  att.method.assign(a.method);
  att.target.assign(a.target);
  att.headers.resize(a.header_count);
  for (size_t i = 0; i < a.header_count; i++) {
    att.headers[i].first.assign(a.headers[i].name);
    att.headers[i].second.assign(a.headers[i].value);
  }
  req->body.assign(a.body ? a.body : "", a.body_length);
  req->start_ns = uv_hrtime();
  req->assigned_ns = req->first_byte_ns = req->done_ns = 0;
  const uint64_t timeout = a.timeout_ms < 0 ? config_.timeout_ms : static_cast<uint64_t>(a.timeout_ms);
  // Before start_attempt(), which may end the attempt at once (and then
  // reads the deadline to decide on a retry) and whose pick() reads the
  // clock for breaker cooldowns. OriginPool::submit() refreshes it again
  // before picking an idle socket.
  uv_update_time(loop_);
  att.deadline_ms = timeout ? uv_now(loop_) + timeout : 0;
  // The method's own idempotency is known once the head is written; the
  // caller's flag can only add to it.
  att.idempotent = a.idempotent;
  if (!b->start_attempt(req)) {
    counters_.total_requests++;
    counters_.failed_requests++;
    req->done_ns = uv_hrtime();
    return finish_balanced(req);
  }
  if (timeout > 0 && req->phase != Request::Phase::kDone) {
    // The clock is fresh: OriginPool::submit() refreshed it just now.
    uv_timer_start(&req->timer, on_request_timeout, timeout, 0);
    req->timer_armed = true;
  }
}

Error Pool::submit_attempt(Request* req, OriginPool* origin, std::string_view host_header) {
  BalancedAttempt& att = *req->balanced;
  attempt_headers_.clear();
  for (const auto& h : att.headers) attempt_headers_.push_back(HeaderPair{h.first, h.second});
  RequestSpec spec;
  spec.method = att.method;
  spec.target = att.target;
  spec.host_header = host_header;
  spec.headers = attempt_headers_.data();
  spec.header_count = attempt_headers_.size();
  spec.body_length = req->body.size();
  spec.keep_alive = config_.keep_alive;
  RequestTraits traits;
  Error err;
  if (!write_request_head(spec, &req->head, &traits, &err)) return err;
  att.idempotent = att.idempotent || traits.idempotent;
  req->idempotent = traits.idempotent;  // the idle-socket race retry follows the method only
  req->head_request = traits.head;
  req->close_after = traits.close_after || !config_.keep_alive;
  req->attempt = 0;
  counters_.total_requests++;
  return origin->submit(req);
}

bool Pool::start_probe(Balancer* b, int32_t endpoint, const BalancerConfig& config) {
  if (closing_) return false;
  Request* req = acquire_slot();
  if (!req->balanced) req->balanced = std::make_unique<BalancedAttempt>();
  BalancedAttempt& att = *req->balanced;
  req->is_balanced = true;
  req->user = nullptr;
  att.balancer = b->id();
  att.endpoint = endpoint;
  att.attempts = 0;
  att.tried = 0;
  att.probe = true;
  att.idempotent = false;
  att.deadline_ms = 0;
  att.method = config.probe_method;
  att.target = config.probe_path;
  att.headers = config.probe_headers;
  req->body = config.probe_body;
  req->start_ns = uv_hrtime();
  if (!b->start_attempt(req)) {
    att.endpoint = -1;  // nothing started: no stats to record
    release_slot(req);
    return false;
  }
  if (config.probe_timeout_ms > 0 && req->phase != Request::Phase::kDone) {
    uv_timer_start(&req->timer, on_request_timeout, config.probe_timeout_ms, 0);
    req->timer_armed = true;
  }
  return true;
}

void Pool::on_retry_timer(uv_timer_t* t) {
  Request* req = static_cast<Request*>(t->data);
  Pool* pool = req->pool;
  Entry entry(*pool);
  pool->balancers_[req->balanced->balancer]->on_retry_due(req);
}

bool Pool::corrupt_one_for_test() {
  for (auto& kv : origins_) {
    if (Connection* c = kv.second->any_active_for_test()) {
      kv.second->corrupt_for_test(c);
      return true;
    }
  }
  return false;
}

void Pool::maybe_finish_close() {
  if (!close_pending_) return;
  bool busy = false;
  for (auto& kv : origins_) {
    if (kv.second->has_live_work()) {
      busy = true;
      continue;
    }
    kv.second->close_unused();
  }
  if (busy || !registry_.empty()) return;
  close_pending_ = false;
  for (void* user : close_users_) notify(Notice{Notice::Kind::kCloseDone, user, 0});
  close_users_.clear();
}

void Pool::settle() {
  if (settling_) return;  // the outer settle() picks up what re-entry adds
  settling_ = true;
  // Captured now: entries made by JS during deliver() rewrite the member.
  const From from = outer_from_;
  // Bounded: each round delivers what the previous one produced; a
  // continuation that keeps issuing requests that fail synchronously would
  // loop, so cap the rounds and leave the rest for the next loop callback.
  for (int round = 0; round < 1000; round++) {
    if (pump_needed_) {
      pump_needed_ = false;
      for (auto& kv : origins_) kv.second->pump();
    }
    maybe_finish_close();
    if (!has_output()) break;
    if (from == From::kCall && !shutting_down_) {
      // JS is on the stack: deliver from the next loop turn instead.
      uv_timer_start(&kick_timer_, on_kick, 0, 0);
      break;
    }
    if (from == From::kRead && !shutting_down_) {
      // More reads may follow in this poll phase: deliver them together.
      if (!check_armed_) {
        check_armed_ = true;
        uv_check_start(&check_, on_check);
      }
      break;
    }
    done_batch_.swap(done_);
    events_batch_.swap(events_);
    notices_batch_.swap(notices_);
    // Warmup notices report the origin's idle count at delivery time.
    for (Notice& n : notices_batch_) {
      if (n.kind != Notice::Kind::kWarmupDone) continue;
      WarmupOp* op = static_cast<WarmupOp*>(n.user);
      n.user = op->user;
      n.value = op->origin ? op->origin->idle_count() : 0;
      delete op;
    }
    sink_->deliver(done_batch_.data(), done_batch_.size(), events_batch_.data(),
                   events_batch_.size(), notices_batch_.data(), notices_batch_.size());
    for (Request* req : done_batch_) release_slot(req);
    done_batch_.clear();
    events_batch_.clear();
    notices_batch_.clear();
  }
  settling_ = false;
  // A burst just ended: give back the slots it grew (see kQuietTrimAbove).
  if (live_requests_ == 0 && free_slots_.size() > kQuietTrimAbove && !shutting_down_) {
    trim_slots(kSpareSlots);
  }
  if (shutting_down_ && !shutdown_notified_ && all_handles_closed() && live_requests_ == 0) {
    shutdown_notified_ = true;
    sink_->on_shutdown_complete();  // may delete this; touch nothing after
  }
}

void Pool::metrics(MetricsSnapshot* out) const {
  out->counters = counters_;
  if (tls_) {  // the context counts handshakes; the pool only reports them
    out->counters.tls_handshakes = tls_->handshakes();
    out->counters.tls_resumed = tls_->resumed_handshakes();
  }
  out->origins.clear();
  uint64_t active = 0, idle = 0, memory = sizeof(Pool);
  for (const auto& kv : origins_) {
    const OriginPool& o = *kv.second;
    OriginMetrics m;
    m.origin = o.key();
    m.active = o.active_count();
    m.idle = o.idle_count();
    m.pending = o.pending_count();
    m.total = o.open_count();
    active += m.active;
    idle += m.idle;
    memory += sizeof(OriginPool) + o.key().capacity() + o.connection_bytes();
    out->origins.push_back(std::move(m));
  }
  memory += slots_.capacity() * sizeof(slots_[0]) + spare_indices_.capacity() * sizeof(SpareIndex);
  for (const auto& slot : slots_) {
    if (slot) memory += slot->capacity_bytes();
  }
  // Not yet completed nor failed: queued, waiting or in flight.
  out->pending_requests = k_pending(counters_);
  out->active_connections = active;
  out->idle_connections = idle;
  const Counters& k = counters_;
  const uint64_t served = k.new_connections + k.reused_connections;
  out->socket_reuse_percentage = served ? 100.0 * static_cast<double>(k.reused_connections) / served : 0;
  out->average_connection_time = k.connect_count ? k.connect_ms_total / k.connect_count : 0;
  out->average_reuse_time = k.reused_connections ? k.reuse_acquire_ms_total / k.reused_connections : 0;
  out->native_memory = memory;
}

}  // namespace cpc
