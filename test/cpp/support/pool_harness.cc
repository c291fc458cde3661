#include "support/pool_harness.h"

#include "core/request.h"

namespace cpc_test {

void RecordingSink::deliver(cpc::Request* const* done, size_t done_count,
                            const cpc::Event* evs, size_t event_count,
                            const cpc::Notice* ns, size_t notice_count) {
  batches++;
  for (size_t i = 0; i < event_count; i++) events.push_back(evs[i]);
  for (size_t i = 0; i < notice_count; i++) notices.push_back(RecordedNotice{ns[i], batches});
  const size_t first = results.size();
  for (size_t i = 0; i < done_count; i++) {
    const cpc::Request* req = done[i];
    Result r;
    r.id = reinterpret_cast<uintptr_t>(req->user);
    r.error = req->error;
    r.status = req->response.status;
    r.body = req->response.body;
    for (const cpc::HeaderSpan& h : req->response.headers) {
      r.headers.emplace_back(std::string(req->response.header_name(h)),
                             std::string(req->response.header_value(h)));
    }
    r.reused = req->reused;
    r.attempt = req->attempt;
    r.batch = batches;
    results.push_back(std::move(r));
  }
  if (on_result) {
    // Copies: the callback may send more requests, which appends to results.
    for (size_t i = first; i < first + done_count; i++) {
      Result r = results[i];
      on_result(r);
    }
  }
}

void RecordingSink::on_shutdown_complete() {
  shutdown_complete = true;
  delete pool;
  pool = nullptr;
}

const Result* RecordingSink::find(uintptr_t id) const {
  for (const Result& r : results) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

size_t RecordingSink::count(cpc::EventType type) const {
  size_t n = 0;
  for (const cpc::Event& e : events) n += e.type == type;
  return n;
}

size_t RecordingSink::closed_with(cpc::CloseReason reason) const {
  size_t n = 0;
  for (const cpc::Event& e : events) {
    n += e.type == cpc::EventType::kSocketClosed && e.reason == reason;
  }
  return n;
}

void PoolTest::SetUp() {
  ASSERT_EQ(uv_loop_init(&loop_), 0);
  uv_timer_init(&loop_, &deadline_);
  deadline_.data = this;
  uv_prepare_init(&loop_, &waker_);
  waker_.data = this;
  uv_timer_init(&loop_, &stall_meter_);
  stall_meter_.data = this;
  server_ = std::make_unique<TestServer>(&loop_);
  ASSERT_EQ(server_->listen(), 0);
  origin_ = "http://127.0.0.1:" + std::to_string(server_->port());
}

void PoolTest::TearDown() {
  if (sink_.pool) {
    sink_.on_result = nullptr;
    sink_.pool->shutdown();
    EXPECT_TRUE(run_until([&] { return sink_.shutdown_complete; }))
        << "on_shutdown_complete() never came; live requests: "
        << (sink_.pool ? sink_.pool->live_requests() : 0);
  }
  server_->close();
  EXPECT_TRUE(run_until([&] { return server_->closed(); })) << "the test server did not close";
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&waker_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&stall_meter_), nullptr);
  // Close callbacks run in the next iteration; NOWAIT never blocks on a
  // handle that something forgot to close.
  for (int i = 0; i < 4 && uv_run(&loop_, UV_RUN_NOWAIT) != 0; i++) {
  }
  const int rc = uv_loop_close(&loop_);
  EXPECT_EQ(rc, 0) << "handles still open: " << describe_open_handles(&loop_);
  if (rc == 0 && server_->closed()) server_.reset();
  else server_.release();  // NOLINT: still referenced by the loop; leak rather than crash
}

cpc::Pool& PoolTest::start_pool(const cpc::Config& config, bool events) {
  sink_.pool = new cpc::Pool(&loop_, config, &sink_);
  sink_.pool->set_events_enabled(events);
  return *sink_.pool;
}

uint64_t PoolTest::execute(const Send& s) { return execute_to(origin_, server_->port(), s); }

uint64_t PoolTest::execute_to(const std::string& origin, uint16_t port, const Send& s) {
  std::vector<cpc::HeaderPair> headers;
  for (const auto& h : s.headers) headers.push_back(cpc::HeaderPair{h.first, h.second});
  const std::string host_header = "127.0.0.1:" + std::to_string(port);
  cpc::ExecuteArgs a;
  a.origin_key = origin;
  a.host = "127.0.0.1";
  a.port = port;
  a.method = s.method;
  a.target = s.target;
  a.host_header = host_header;
  a.headers = headers.data();
  a.header_count = headers.size();
  a.body = s.body.data();
  a.body_length = s.body.size();
  a.timeout_ms = s.timeout_ms;
  a.user = reinterpret_cast<void*>(s.id);
  uint64_t handle = 0;
  const size_t delivered = sink_.results.size();
  sink_.pool->execute(a, &handle);
  // STYLE.md: execute() never settles synchronously.
  EXPECT_EQ(sink_.results.size(), delivered) << "execute() delivered a result inside the call";
  return handle;
}

uint64_t PoolTest::send(uintptr_t id, std::string target, std::string method, std::string body) {
  Send s;
  s.id = id;
  s.target = std::move(target);
  s.method = std::move(method);
  s.body = std::move(body);
  return execute(s);
}

void PoolTest::on_deadline(uv_timer_t* t) { static_cast<PoolTest*>(t->data)->deadline_fired_ = true; }

// libuv 1.44's UV_RUN_ONCE runs due timers first and then still blocks in
// poll until the next event: a condition met by a timer callback (the
// pool's zero-delay delivery, a sweep), or the deadline itself firing
// there, would only be seen when some later event arrives (up to a 60 s
// sweep away). Checking both just before poll and stopping the loop makes
// that poll return at once.
void PoolTest::on_prepare(uv_prepare_t* p) {
  PoolTest* t = static_cast<PoolTest*>(p->data);
  if (t->deadline_fired_ || (t->waiting_for_ && (*t->waiting_for_)())) uv_stop(&t->loop_);
}

bool PoolTest::run_until(const std::function<bool()>& done, uint64_t timeout_ms) {
  deadline_fired_ = false;
  uv_timer_start(&deadline_, on_deadline, timeout_ms, 0);
  waiting_for_ = &done;
  uv_prepare_start(&waker_, on_prepare);
  while (!done() && !deadline_fired_) uv_run(&loop_, UV_RUN_ONCE);
  uv_prepare_stop(&waker_);
  waiting_for_ = nullptr;
  uv_timer_stop(&deadline_);
  return done();
}

void PoolTest::run_for(uint64_t ms) {
  run_until([] { return false; }, ms);
}

void PoolTest::start_stall_meter() {
  last_tick_ns_ = uv_hrtime();
  max_stall_ns_ = 0;
  uv_timer_start(&stall_meter_, on_stall_tick, 5, 5);
}

void PoolTest::on_stall_tick(uv_timer_t* t) {
  PoolTest* self = static_cast<PoolTest*>(t->data);
  const uint64_t now = uv_hrtime();
  if (now - self->last_tick_ns_ > self->max_stall_ns_) self->max_stall_ns_ = now - self->last_tick_ns_;
  self->last_tick_ns_ = now;
}

cpc::MetricsSnapshot PoolTest::metrics() {
  cpc::MetricsSnapshot m;
  sink_.pool->metrics(&m);
  return m;
}

std::string describe_open_handles(uv_loop_t* loop) {
  std::string out;
  uv_walk(
      loop,
      [](uv_handle_t* h, void* arg) {
        auto* s = static_cast<std::string*>(arg);
        *s += uv_handle_type_name(uv_handle_get_type(h));
        *s += uv_is_closing(h) ? "(closing) " : uv_is_active(h) ? "(active) " : "(inactive) ";
      },
      &out);
  return out.empty() ? "none" : out;
}

}  // namespace cpc_test
