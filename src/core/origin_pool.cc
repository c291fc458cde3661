#include "core/origin_pool.h"

#include <cassert>
#include <cstdio>
#include <vector>

#include "core/pool.h"

namespace cpc {
namespace {

double ms_between(uint64_t from_ns, uint64_t to_ns) {
  return to_ns > from_ns ? static_cast<double>(to_ns - from_ns) / 1e6 : 0.0;
}

// The Keep-Alive hint minus a safety margin, so we stop using a socket
// before the server's own timer closes it (undici keeps 1 s; shorter
// hints keep three quarters).
uint64_t idle_limit_from_hint(uint32_t timeout_s) {
  uint64_t ms = static_cast<uint64_t>(timeout_s) * 1000;
  uint64_t margin = ms / 4 < 1000 ? ms / 4 : 1000;
  return ms - margin;
}

}  // namespace

OriginPool::OriginPool(Pool* pool, std::string key, std::string host, uint16_t port, bool https)
    : pool_(pool), key_(std::move(key)), host_(std::move(host)), port_(port), https_(https) {
  snprintf(port_str_, sizeof(port_str_), "%u", static_cast<unsigned>(port));
}

OriginPool::~OriginPool() {
  // The pool frees origins only after every connection was freed and every
  // request delivered.
  assert(connecting_.empty() && active_.empty() && idle_.empty() && closing_.empty());
  assert(queue_.empty());
}

OriginPool::ConnList& OriginPool::list_for(Connection::State s) {
  switch (s) {
    case Connection::State::kConnecting: return connecting_;
    case Connection::State::kActive: return active_;
    case Connection::State::kIdle: return idle_;
    case Connection::State::kClosing: break;
  }
  return closing_;
}

// The only writer of Connection::state.
void OriginPool::transition(Connection* c, Connection::State to, CloseReason reason) {
  const Connection::State from = c->state;
  assert(from != Connection::State::kClosing);
  list_for(from).remove(c);
  c->state = to;
  list_for(to).push_back(c);
  if (to == Connection::State::kIdle) {
    c->idle_since_ms = uv_now(pool_->loop());
    c->set_ref(false);
    c->on_idle();
  } else if (from == Connection::State::kIdle) {
    c->set_ref(true);
  }
  if (to == Connection::State::kClosing) {
    if (Request* orphan = c->reserved) {
      // Every path that closes a reserved socket hands its request on
      // first; this is the backstop that keeps it from waiting forever.
      c->reserved = nullptr;
      reserved_connecting_--;
      waiting_fresh_--;
      fail_request(orphan, make_error(ErrorCode::kSocketClosed, "The fresh socket for a retry closed"));
    }
    warmup_settled(c);  // a warmup() waiting for this socket counts it as done
    c->close_reason = reason;
    c->close_handles();
    pool_->counters().closed_connections++;
    pool_->on_socket_released();
    if (pool_->events_enabled()) {
      Event ev;
      ev.type = EventType::kSocketClosed;
      ev.id = c->id;
      ev.origin = key_;
      ev.reason = reason;
      pool_->emit(std::move(ev));
    }
  }
}

bool OriginPool::can_open() const {
  if (open_count() >= pool_->config().max_sockets) return false;
  if (pool_->total_limit_reached() && !pool_->evict_idle_elsewhere(const_cast<OriginPool*>(this))) {
    return false;
  }
  return true;
}

Connection* OriginPool::open_connection(Request* reserved, WarmupOp* warmup) {
  Connection* c = new Connection(this, pool_->next_connection_id());
  connecting_.push_back(c);
  c->reserved = reserved;
  c->warmup = warmup;
  c->idle_timeout_ms = pool_->config().free_socket_timeout_ms;
  if (reserved) reserved_connecting_++;
  pool_->counters().total_connections++;
  pool_->on_socket_opened();
  pool_->on_connection_created(c);
  c->start(pool_->config().connect_timeout_ms);
  return c;
}

Error OriginPool::submit(Request* req) {
  // The one clock refresh of a request, shared by execute() and every
  // BalancedPool attempt (first, retry, probe): the loop's cached clock may
  // be a busy tick old, and an idle socket must not look younger than it is
  // when pump() picks one (take_idle), nor a request timer armed right after
  // this returns fire before its time.
  uv_update_time(pool_->loop());
  req->origin = this;
  req->sent = false;
  req->phase = Request::Phase::kQueued;
  queue_.push_back(req);
  pump();
  // maxQueue counts requests that wait with no socket on its way for them.
  const uint64_t max_queue = pool_->config().max_queue;
  if (req->phase == Request::Phase::kQueued && max_queue != kUnlimited &&
      queue_.size() > unreserved_connecting() + max_queue) {
    queue_.remove(req);
    req->phase = Request::Phase::kFree;
    return make_error(ErrorCode::kQueueFull,
                      "maxQueue (" + std::to_string(pool_->config().max_queue) +
                          ") requests already wait for a socket to " + key_);
  }
  return Error{};
}

CloseReason OriginPool::expiry(const Connection* c, uint64_t now_ms) const {
  if (now_ms - c->idle_since_ms >= c->idle_timeout_ms) return CloseReason::kIdleTimeout;
  const uint64_t lifetime = pool_->config().max_socket_lifetime_ms;
  if (lifetime != kUnlimited && now_ms - c->created_ms >= lifetime) return CloseReason::kLifetime;
  return CloseReason::kNone;
}

Connection* OriginPool::take_idle() {
  const bool lifo = pool_->config().scheduling == Scheduling::kLifo;
  // The loop's clock, as the sweep and idle_since_ms use: it may be one
  // busy tick old, which the Keep-Alive hint's margin (idle_limit_from_hint)
  // covers.
  const uint64_t now = uv_now(pool_->loop());
  while (!idle_.empty()) {
    Connection* c = lifo ? idle_.back() : idle_.front();
    // The sweep runs only every cleanupPeriodMs: a socket past its idle
    // deadline (which honours the server's Keep-Alive hint) or its lifetime
    // is closed here rather than handed out just as the server closes it.
    const CloseReason expired = expiry(c, now);
    if (expired != CloseReason::kNone) {
      close_connection(c, expired);
      continue;
    }
    // Go and curl check health on the way out: a FIN, RST or stray bytes
    // that arrived since the last poll mean the server is done with it.
    if (c->looks_alive()) return c;
    close_connection(c, CloseReason::kServerClosed);
  }
  return nullptr;
}

void OriginPool::pump() {
  // Bounded: each pass either dispatches a request, opens a socket or stops.
  while (!queue_.empty()) {
    if (Connection* c = take_idle()) {
      assign(c, queue_.pop_front());
      continue;
    }
    if (unreserved_connecting() >= queue_.size()) break;  // enough sockets on the way
    if (!can_open()) break;
    open_connection(nullptr, nullptr);
  }
}

void OriginPool::assign(Connection* c, Request* req, bool waited_for_connect) {
  transition(c, Connection::State::kActive);
  c->request = req;
  req->conn = c;
  req->phase = Request::Phase::kInFlight;
  req->assigned_ns = uv_hrtime();
  req->reused = c->uses > 0;
  req->sent = true;
  c->uses++;
  c->received_for_request = 0;
  Counters& k = pool_->counters();
  if (req->reused) {
    k.reused_connections++;
    k.reuse_acquire_ms_total += ms_between(req->start_ns, req->assigned_ns);
    req->connect_ms = 0;
    if (pool_->events_enabled()) {
      Event ev;
      ev.type = EventType::kSocketReused;
      ev.id = c->id;
      ev.origin = key_;
      ev.uses = c->uses;
      pool_->emit(std::move(ev));
    }
  } else {
    k.new_connections++;
    // A socket opened earlier (warmup) cost this request no connect time.
    req->connect_ms = waited_for_connect ? c->connect_ms : 0;
  }
  const Config& cfg = pool_->config();
  c->parser.begin(&req->response, req->head_request, cfg.max_header_size, cfg.max_response_size);
  c->send(req->head, req->body);
}

void OriginPool::on_connected(Connection* c) {
  Counters& k = pool_->counters();
  k.connect_count++;
  k.connect_ms_total += c->connect_ms;
  if (pool_->events_enabled()) {
    Event ev;
    ev.type = EventType::kSocketCreated;
    ev.id = c->id;
    ev.origin = key_;
    ev.connect_time_ms = c->connect_ms;
    pool_->emit(std::move(ev));
  }
  warmup_settled(c);
  if (Request* req = c->reserved) {
    c->reserved = nullptr;
    reserved_connecting_--;
    waiting_fresh_--;
    assign(c, req, true);
    return;
  }
  if (!queue_.empty()) {
    assign(c, queue_.pop_front(), true);
    return;
  }
  transition(c, Connection::State::kIdle);
  if (pool_->closing() || draining_ || idle_.size() > pool_->config().max_free_sockets) {
    close_connection(c, pool_->closing() || draining_ ? CloseReason::kPoolClosed : CloseReason::kMaxFree);
  }
}

void OriginPool::on_connect_failed(Connection* c, Error err) {
  Counters& k = pool_->counters();
  k.failed_connections++;
  if (err.code == ErrorCode::kConnectTimeout) k.timed_out_connections++;
  if (pool_->events_enabled()) {
    Event ev;
    ev.type = EventType::kSocketError;
    ev.id = c->id;
    ev.origin = key_;
    ev.error = err;
    pool_->emit(std::move(ev));
  }
  warmup_settled(c);
  // One failed dial fails one waiter: the retry it was opened for, else the
  // oldest queued request (late binding: sockets are not tied to requests).
  Request* victim = c->reserved;
  if (victim) {
    c->reserved = nullptr;
    reserved_connecting_--;
    waiting_fresh_--;
  } else if (!queue_.empty() && unreserved_connecting() <= queue_.size()) {
    victim = queue_.pop_front();
  }
  close_connection(c, CloseReason::kError);
  if (victim) fail_request(victim, err);
  pump();
}

void OriginPool::on_bytes(Connection* c, const char* data, size_t len) {
  if (c->state == Connection::State::kIdle) {
    // A socket that speaks while idle is dead (undici, Go): never parse it.
    close_connection(c, CloseReason::kServerClosed);
    return;
  }
  if (c->state != Connection::State::kActive || !c->request) return;
  Request* req = c->request;
  if (c->received_for_request == 0) req->first_byte_ns = uv_hrtime();
  c->received_for_request += len;
  size_t consumed = 0;
  switch (c->parser.feed(data, len, &consumed)) {
    case ResponseParser::Status::kNeedMore:
      return;
    case ResponseParser::Status::kComplete:
      finish_response(c, consumed < len);
      return;
    case ResponseParser::Status::kError:
      fail_active(c, c->parser.error(), CloseReason::kError);
      return;
  }
}

void OriginPool::on_eof(Connection* c, int uv_status) {
  if (c->state == Connection::State::kIdle || !c->request) {
    close_connection(c, CloseReason::kServerClosed);
    return;
  }
  if (uv_status == UV_EOF) {
    if (c->parser.finish() == ResponseParser::Status::kComplete) {
      finish_response(c, false);
      return;
    }
    fail_active(c, c->parser.error(), CloseReason::kServerClosed);
    return;
  }
  fail_active(c, make_system_error(uv_status, "read"), CloseReason::kError);
}

void OriginPool::on_write_error(Connection* c, Error err) {
  if (c->state != Connection::State::kActive || !c->request) return;
  fail_active(c, std::move(err), CloseReason::kError);
}

void OriginPool::on_transport_error(Connection* c, Error err) {
  if (c->state == Connection::State::kActive && c->request) {
    fail_active(c, std::move(err), CloseReason::kError);
  } else {
    close_connection(c, CloseReason::kError);
  }
}

void OriginPool::finish_response(Connection* c, bool extra_bytes) {
  Request* req = c->request;
  c->request = nullptr;
  req->conn = nullptr;
  const Config& cfg = pool_->config();
  CloseReason reason = CloseReason::kNone;
  if (!cfg.keep_alive) {
    reason = CloseReason::kNoKeepAlive;
  } else if (extra_bytes || c->write_pending()) {
    // Bytes after a complete response, or a response that arrived before
    // our request was fully written: the stream is out of step; never reuse.
    reason = CloseReason::kError;
  } else if (!c->parser.keep_alive() || req->close_after) {
    reason = CloseReason::kServerClosed;
  } else if (c->uses >= cfg.max_requests_per_socket) {
    reason = CloseReason::kMaxRequests;
  } else if (cfg.max_socket_lifetime_ms != kUnlimited &&
             uv_now(pool_->loop()) - c->created_ms >= cfg.max_socket_lifetime_ms) {
    reason = CloseReason::kLifetime;
  } else if (c->parser.has_keep_alive_hint()) {
    uint64_t limit = idle_limit_from_hint(c->parser.keep_alive_timeout_s());
    if (limit == 0) {
      reason = CloseReason::kServerClosed;
    } else if (limit < c->idle_timeout_ms) {
      c->idle_timeout_ms = limit;
    }
  }
  if (reason == CloseReason::kNone) {
    release(c);
  } else {
    close_connection(c, reason);
  }
  req->done_ns = uv_hrtime();
  pool_->counters().completed_requests++;
  pool_->complete(req);
  pump();
}

void OriginPool::release(Connection* c) {
  if (!queue_.empty()) {
    assign(c, queue_.pop_front());  // the oldest waiter gets it first
    return;
  }
  if (pool_->closing() || draining_) {
    close_connection(c, CloseReason::kPoolClosed);
    return;
  }
  if (idle_.size() >= pool_->config().max_free_sockets) {
    close_connection(c, CloseReason::kMaxFree);
    return;
  }
  transition(c, Connection::State::kIdle);
}

void OriginPool::fail_active(Connection* c, Error err, CloseReason reason) {
  Request* req = c->request;
  c->request = nullptr;
  if (req) req->conn = nullptr;
  if (pool_->events_enabled() && err.code != ErrorCode::kAborted &&
      err.code != ErrorCode::kRequestTimeout) {
    Event ev;
    ev.type = EventType::kSocketError;
    ev.id = c->id;
    ev.origin = key_;
    ev.error = err;
    pool_->emit(std::move(ev));
  }
  if (req && retry_on_fresh_socket(c, req)) return;
  close_connection(c, reason);
  if (req) fail_request(req, std::move(err));
  pump();
}

// The idle-socket race (API.md, Go's shouldRetryRequest): a request that
// failed on a reused socket before any response byte arrived, whose method
// is idempotent, is sent once more on a fresh socket. A fresh socket's
// failure is never retried, and a non-idempotent request never twice.
bool OriginPool::retry_on_fresh_socket(Connection* c, Request* req) {
  const bool retry = req->attempt == 0 && req->reused && c->received_for_request == 0 &&
                     req->idempotent && !pool_->closing();
  if (!retry) return false;
  close_connection(c, CloseReason::kServerClosed);
  req->attempt = 1;
  req->phase = Request::Phase::kWaitingFresh;
  waiting_fresh_++;
  open_connection(req, nullptr);  // replaces the closed socket: no limit check
  return true;
}

void OriginPool::close_connection(Connection* c, CloseReason reason) {
  if (c->state == Connection::State::kClosing) return;
  transition(c, Connection::State::kClosing, reason);
}

void OriginPool::fail_request(Request* req, Error err) {
  req->error = std::move(err);
  req->done_ns = uv_hrtime();
  req->origin = this;
  pool_->counters().failed_requests++;
  pool_->complete(req);
}

void OriginPool::cancel(Request* req, Error err) {
  switch (req->phase) {
    case Request::Phase::kQueued:
      queue_.remove(req);
      fail_request(req, std::move(err));
      return;
    case Request::Phase::kWaitingFresh:
      for (Connection* c = connecting_.front(); c; c = connecting_.next(c)) {
        if (c->reserved == req) {
          c->reserved = nullptr;  // the socket lives on and serves the queue
          reserved_connecting_--;
          break;
        }
      }
      waiting_fresh_--;
      fail_request(req, std::move(err));
      return;
    case Request::Phase::kInFlight: {
      if (Connection* c = req->conn) {  // null only for a request the audit orphaned
        c->request = nullptr;
        req->conn = nullptr;
        close_connection(c, CloseReason::kError);
      }
      fail_request(req, std::move(err));
      pump();
      return;
    }
    case Request::Phase::kBackoff:
      uv_timer_stop(&req->retry_timer);
      fail_request(req, std::move(err));
      return;
    case Request::Phase::kFree:
    case Request::Phase::kDone:
      return;
  }
}

uint64_t OriginPool::warmup(uint64_t count, WarmupOp* op) {
  uint64_t opened = 0;
  uint64_t have = idle_.size() + unreserved_connecting();
  while (have + opened < count && can_open()) {
    open_connection(nullptr, op);
    opened++;
  }
  return opened;
}

void OriginPool::warmup_settled(Connection* c) {
  WarmupOp* op = static_cast<WarmupOp*>(c->warmup);
  if (!op) return;
  c->warmup = nullptr;
  if (--op->remaining == 0) {
    // The idle count is read when the notice is delivered, after this
    // socket has been filed.
    pool_->notify(Notice{Notice::Kind::kWarmupDone, op, 0});
  }
}

void OriginPool::sweep(uint64_t now_ms) {
  // Idle expiry: walk with the next element taken first, since closing
  // removes the current one from the list.
  for (Connection* c = idle_.front(); c;) {
    Connection* next = idle_.next(c);
    const CloseReason expired = expiry(c, now_ms);
    if (expired != CloseReason::kNone) close_connection(c, expired);
    c = next;
  }
}

bool OriginPool::evict_one_idle() {
  Connection* oldest = idle_.front();
  if (!oldest) return false;
  close_connection(oldest, CloseReason::kMaxFree);
  return true;
}

void OriginPool::close_all(CloseReason reason) {
  for (ConnList* list : {&idle_, &active_, &connecting_}) {
    while (Connection* c = list->front()) {
      if (c->request) {
        c->request->conn = nullptr;
        c->request = nullptr;
      }
      close_connection(c, reason);
    }
  }
}

void OriginPool::close_unused() {
  while (Connection* c = idle_.front()) close_connection(c, CloseReason::kPoolClosed);
  if (queue_.empty()) {
    for (Connection* c = connecting_.front(); c;) {
      Connection* next = connecting_.next(c);
      if (!c->reserved) close_connection(c, CloseReason::kPoolClosed);
      c = next;
    }
  }
}

void OriginPool::note_refused(const sockaddr* addr) {
  refused_.note(addr, uv_now(pool_->loop()));
}

void OriginPool::add_balancer_ref() {
  balancer_refs_++;
  draining_ = false;
}

void OriginPool::drop_balancer_ref() {
  if (balancer_refs_ > 0) balancer_refs_--;
  if (balancer_refs_ > 0 || direct_use_) return;
  draining_ = true;
  while (Connection* c = idle_.front()) close_connection(c, CloseReason::kPoolClosed);
}

void OriginPool::fail_all(const Error& err) {
  // Detach everything first (Envoy's purge-a-copy rule), then fail.
  std::vector<Request*> victims;
  while (Request* r = queue_.pop_front()) victims.push_back(r);
  for (Connection* c = active_.front(); c; c = active_.next(c)) {
    if (c->request) {
      victims.push_back(c->request);
      c->request->conn = nullptr;
      c->request = nullptr;
    }
  }
  for (Connection* c = connecting_.front(); c; c = connecting_.next(c)) {
    if (c->reserved) {
      victims.push_back(c->reserved);
      c->reserved = nullptr;
      reserved_connecting_--;
    }
  }
  waiting_fresh_ = 0;
  for (Request* r : victims) fail_request(r, err);
}

void OriginPool::on_handles_closed(Connection* c) {
  closing_.remove(c);
  pool_->on_connection_freed(c);  // deletes c
}

uint64_t OriginPool::connection_bytes() const {
  uint64_t bytes = 0;
  for (const ConnList* list : {&connecting_, &active_, &idle_, &closing_}) {
    for (const Connection* c = list->front(); c; c = list->next(c)) bytes += c->memory_bytes();
  }
  return bytes;
}

std::string OriginPool::audit(const Connection* c) const {
  using S = Connection::State;
  const uint8_t on = c->state_hook.list_id;
  switch (c->state) {
    case S::kConnecting:
      if (on != connecting_.id()) return "connecting socket missing from the connecting list";
      if (c->request) return "connecting socket bound to a request";
      return {};
    case S::kActive:
      if (on != active_.id()) return "active socket missing from the active list";
      if (!c->request) return "active socket without a request";
      if (c->request->conn != c || c->request->phase != Request::Phase::kInFlight) {
        return "active socket whose request is not in flight on it";
      }
      return {};
    case S::kIdle:
      if (on != idle_.id()) return "idle socket missing from the free list";
      if (c->request) return "idle socket bound to a request";
      return {};
    case S::kClosing:
      if (on != closing_.id()) return "closing socket missing from the closing list";
      return {};
  }
  return "unknown state";
}

void OriginPool::reclaim(Connection* c) {
  if (c->state == Connection::State::kClosing) return;
  // Put it back on the list its state names, then close it like any other.
  if (c->state_hook.linked()) {
    switch (c->state_hook.list_id) {
      case 1: connecting_.remove(c); break;
      case 2: active_.remove(c); break;
      case 3: idle_.remove(c); break;
      case 4: closing_.remove(c); break;
      default: break;
    }
  }
  list_for(c->state).push_back(c);
  if (c->request) {
    if (c->request->conn == c) {
      Request* req = c->request;
      c->request = nullptr;
      req->conn = nullptr;
      close_connection(c, CloseReason::kError);
      fail_request(req, make_error(ErrorCode::kSocketClosed, "Socket reclaimed by the leak audit"));
      return;
    }
    c->request = nullptr;
  }
  close_connection(c, CloseReason::kError);
}

void OriginPool::corrupt_for_test(Connection* c) {
  // Leaves an active socket without its request: the state a lost
  // completion would leave behind.
  if (c->request) {
    c->request->conn = nullptr;
    c->request = nullptr;
  }
}

Connection* OriginPool::any_active_for_test() const { return active_.front(); }

}  // namespace cpc
