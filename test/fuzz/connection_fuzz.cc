// libFuzzer target: the connection state machine, keep-alive reuse included.
//
// A cpc::Pool on a private uv loop sends 2 or 3 requests to an in-process
// libuv TCP server on 127.0.0.1 (port 0) that answers each request it reads
// with the next fuzzer-provided script: bytes written in fuzzer-chosen
// chunks (one chunk per loop turn, so the client reads them apart), then
// the connection kept open, closed (FIN), reset (RST), or closed before
// any answer. Requests go one after the other, each sent from the sink's
// deliver() as the binding's continuation would, so the second one reuses
// the first one's socket when the response allowed it.
//
// Input layout (make-corpus.js writes seeds in it):
//   u8  config   bit0 keepAlive off; bit1 maxResponseSize 16; bit2
//                maxRequestsPerSocket 1; bit3 maxHeaderSize 128; bit4 events
//                on; bit5 fifo; bit6 graceful close() before shutdown;
//                bit7 all requests at once with maxSockets 1 (queued)
//   u8  count    2 + (count & 1) requests
//   3 x u8       per request: bits0-1 method {GET, HEAD, POST, DELETE};
//                bit2 abort right after execute(); bit3 abort 1 ms later
//   u8  scripts  1 + (scripts & 3) server answers, each:
//       u8  mode     bits0-1 {keep open, FIN, RST, close unanswered};
//                    bit2 then send one unsolicited byte while idle
//       u8  n        split count (n & 7), then n x u16 chunk lengths
//       u16 len      then len bytes of response
//   A request that finds no script left is closed unanswered.
//
// Checked for every input: each request ends exactly once, resolved with a
// sane response or rejected with a coded error; the loop settles within a
// deadline; completed + failed == total; sweep_now() finds no leak; after
// shutdown nothing of the pool or the server is left on the loop.
#include <uv.h>

#include <csignal>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/errors.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "core/request.h"
#include "fuzz_input.h"

namespace {

constexpr uint64_t kRequestTimeoutMs = 3;  // a stalled answer costs this much
constexpr uint64_t kInputDeadlineMs = 5000;  // a settled input takes < 100 ms

enum Mode : uint8_t { kKeepOpen = 0, kFin = 1, kRst = 2, kDrop = 3 };

struct Script {
  Mode mode = kDrop;
  bool poke = false;
  std::vector<size_t> chunks;
  std::string bytes;
};

struct Harness;

// One accepted connection. Owned by Harness::conns; deleted in
// on_handle_closed() once both handles have closed. tcp.data == pacer.data == this.
struct ServerConn {
  Harness* h = nullptr;
  uv_tcp_t tcp;
  uv_timer_t pacer;      // writes one chunk per tick
  int open_handles = 0;
  bool closing = false;
  std::string in;        // request bytes not yet parsed
  bool answering = false;
  Script script;
  size_t chunk = 0;      // next chunk index
  size_t sent = 0;       // bytes of script.bytes written
  bool poke_pending = false;
};

struct Write {
  uv_write_t req;
  std::string bytes;
};

struct Result {
  bool seen = false;
  cpc::Error error;
  uint16_t status = 0;
  size_t body = 0;
};

struct Plan {
  uint8_t config = 0;
  size_t requests = 2;
  uint8_t request_flags[3] = {0, 0, 0};
  std::vector<Script> scripts;
};

class Sink : public cpc::PoolSink {
 public:
  explicit Sink(Harness* h) : h_(h) {}
  void deliver(cpc::Request* const* done, size_t done_count, const cpc::Event* events,
               size_t event_count, const cpc::Notice* notices, size_t notice_count) override;
  void on_shutdown_complete() override;

 private:
  Harness* h_;
};

struct Harness {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_timer_t ticker;     // keeps UV_RUN_ONCE from blocking while an input runs
  uv_timer_t aborter;    // "abort 1 ms later"
  uint16_t port = 0;
  std::string origin;
  Sink sink{this};

  // Per input.
  const Plan* plan = nullptr;
  cpc::Pool* pool = nullptr;  // Owned; deleted in Sink::on_shutdown_complete().
  cpc::Config config;
  std::vector<ServerConn*> conns;
  size_t live_conns = 0;
  size_t next_script = 0;
  size_t sent = 0;            // requests executed
  Result results[3];
  size_t delivered = 0;
  uint64_t handles[3] = {0, 0, 0};
  bool close_done = false;
  bool shutdown_done = false;

  void init();
  void run(const Plan& p);
  void send_next();
  void send(size_t i);
  template <typename F>
  void drive(F done, const char* what);
};

Harness* g_harness = nullptr;

const char* const kMethods[] = {"GET", "HEAD", "POST", "DELETE"};

// --- the server ------------------------------------------------------------

void on_server_handle_closed(uv_handle_t* hd) {
  ServerConn* c = static_cast<ServerConn*>(hd->data);
  if (--c->open_handles > 0) return;
  Harness* h = c->h;
  for (ServerConn*& slot : h->conns) {
    if (slot == c) slot = nullptr;
  }
  h->live_conns--;
  delete c;
}

void close_conn(ServerConn* c, bool reset) {
  if (c->closing) return;
  c->closing = true;
  uv_timer_stop(&c->pacer);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->pacer), on_server_handle_closed);
  if (reset) {
    if (uv_tcp_close_reset(&c->tcp, on_server_handle_closed) == 0) return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_server_handle_closed);
}

void on_write(uv_write_t* req, int) { delete static_cast<Write*>(req->data); }

void write_bytes(ServerConn* c, std::string bytes) {
  Write* w = new Write;
  w->req.data = w;
  w->bytes = std::move(bytes);
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, on_write) != 0) {
    delete w;
    close_conn(c, false);
  }
}

void on_shutdown(uv_shutdown_t* req, int) {
  ServerConn* c = static_cast<ServerConn*>(req->data);
  delete req;
  close_conn(c, false);
}

void parse_requests(ServerConn* c);

void on_pace(uv_timer_t* t) {
  ServerConn* c = static_cast<ServerConn*>(t->data);
  if (c->closing) return;
  if (c->poke_pending) {
    c->poke_pending = false;
    write_bytes(c, "X");
    return;
  }
  if (!c->answering) return;
  Script& s = c->script;
  if (c->sent < s.bytes.size()) {
    size_t len = s.bytes.size() - c->sent;
    if (c->chunk < s.chunks.size()) {
      size_t want = s.chunks[c->chunk++];
      if (want == 0) want = 1;
      if (want < len) len = want;
    }
    write_bytes(c, s.bytes.substr(c->sent, len));
    c->sent += len;
    if (c->sent < s.bytes.size()) {
      uv_timer_start(&c->pacer, on_pace, 0, 0);
      return;
    }
  }
  // The whole answer is out: now the mode.
  c->answering = false;
  switch (s.mode) {
    case kKeepOpen:
      if (s.poke) {
        c->poke_pending = true;
        uv_timer_start(&c->pacer, on_pace, 1, 0);
      }
      parse_requests(c);  // a request that arrived meanwhile
      return;
    case kFin: {
      // Shut down after the queued writes, then close.
      uv_shutdown_t* req = new uv_shutdown_t;
      req->data = c;
      if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&c->tcp), on_shutdown) != 0) {
        delete req;
        close_conn(c, false);
      }
      return;
    }
    case kRst:
    case kDrop:
      close_conn(c, s.mode == kRst);
      return;
  }
}

void answer(ServerConn* c) {
  Harness* h = c->h;
  Script s;  // none left: close unanswered
  if (h->next_script < h->plan->scripts.size()) s = h->plan->scripts[h->next_script++];
  if (s.mode == kDrop) {
    close_conn(c, false);
    return;
  }
  c->script = std::move(s);
  c->answering = true;
  c->chunk = 0;
  c->sent = 0;
  c->poke_pending = false;
  uv_timer_start(&c->pacer, on_pace, 0, 0);
}

size_t content_length(const std::string& head) {
  // The pool writes "content-length: N" or "Content-Length: N"; match any case.
  for (size_t i = 0; i + 15 <= head.size(); i++) {
    if (strncasecmp(head.data() + i, "content-length:", 15) == 0) {
      return static_cast<size_t>(strtoull(head.c_str() + i + 15, nullptr, 10));
    }
  }
  return 0;
}

void parse_requests(ServerConn* c) {
  if (c->closing || c->answering) return;
  const size_t end = c->in.find("\r\n\r\n");
  if (end == std::string::npos) return;
  const size_t body = content_length(c->in.substr(0, end + 2));
  if (c->in.size() < end + 4 + body) return;
  c->in.erase(0, end + 4 + body);
  answer(c);
}

void on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  static char storage[64 * 1024];
  *buf = uv_buf_init(storage, sizeof(storage));
}

void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  ServerConn* c = static_cast<ServerConn*>(s->data);
  if (nread == 0 || c->closing) return;
  if (nread < 0) {
    close_conn(c, false);
    return;
  }
  c->in.append(buf->base, static_cast<size_t>(nread));
  parse_requests(c);
}

void on_connection(uv_stream_t* listener, int status) {
  Harness* h = static_cast<Harness*>(listener->data);
  if (status < 0) return;
  ServerConn* c = new ServerConn;
  c->h = h;
  uv_tcp_init(&h->loop, &c->tcp);
  uv_timer_init(&h->loop, &c->pacer);
  c->tcp.data = c;
  c->pacer.data = c;
  c->open_handles = 2;
  h->conns.push_back(c);
  h->live_conns++;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    close_conn(c, false);
    return;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
}

// --- the client --------------------------------------------------------------

bool allowed_error(cpc::ErrorCode code) {
  using cpc::ErrorCode;
  switch (code) {
    case ErrorCode::kSystem:           // ECONNRESET, EPIPE, ...
    case ErrorCode::kConnectTimeout:
    case ErrorCode::kRequestTimeout:
    case ErrorCode::kResponseTooLarge:
    case ErrorCode::kParse:
    case ErrorCode::kSocketClosed:
    case ErrorCode::kAborted:
    case ErrorCode::kUnsupported:      // 101
      return true;
    default:
      return false;
  }
}

void Sink::deliver(cpc::Request* const* done, size_t done_count, const cpc::Event*, size_t,
                   const cpc::Notice* notices, size_t notice_count) {
  Harness* h = h_;
  for (size_t i = 0; i < notice_count; i++) {
    if (notices[i].kind == cpc::Notice::Kind::kCloseDone) h->close_done = true;
  }
  for (size_t i = 0; i < done_count; i++) {
    const cpc::Request* req = done[i];
    const size_t id = reinterpret_cast<uintptr_t>(req->user);
    FUZZ_CHECK(id < h->plan->requests, "delivery for unknown request %zu", id);
    Result& r = h->results[id];
    FUZZ_CHECK(!r.seen, "request %zu delivered twice", id);
    r.seen = true;
    r.error = req->error;
    r.status = req->response.status;
    r.body = req->response.body.size();
    h->delivered++;
    if (r.error.ok()) {
      FUZZ_CHECK((r.status >= 200 && r.status <= 999) || cpc_fuzz::tolerated("status-range"),
                 "request %zu resolved with status %u", id, r.status);
      if (h->config.max_response_size != cpc::kUnlimited) {
        FUZZ_CHECK(r.body <= h->config.max_response_size, "request %zu body %zu over the limit", id, r.body);
      }
      if (req->head_request) FUZZ_CHECK(r.body == 0, "HEAD request %zu got a body", id);
    } else {
      FUZZ_CHECK(allowed_error(r.error.code), "request %zu failed with code %d (%s: %s)", id,
                 static_cast<int>(r.error.code), r.error.js_code().c_str(), r.error.message.c_str());
      FUZZ_CHECK(!r.error.js_code().empty(), "request %zu failed without a code", id);
    }
  }
  // The continuation: the next request goes out from inside deliver().
  if (!(h->plan->config & 0x80)) {
    while (h->sent < h->plan->requests && h->sent == h->delivered) h->send_next();
  }
}

void Sink::on_shutdown_complete() {
  h_->shutdown_done = true;
  delete h_->pool;
  h_->pool = nullptr;
}

void on_abort_later(uv_timer_t* t) {
  Harness* h = static_cast<Harness*>(t->data);
  if (!h->pool) return;
  for (size_t i = 0; i < h->sent; i++) {
    if ((h->plan->request_flags[i] & 8) && !h->results[i].seen) {
      h->pool->abort(h->handles[i], cpc::make_error(cpc::ErrorCode::kAborted, "aborted"));
    }
  }
}

void Harness::send(size_t i) {
  const uint8_t flags = plan->request_flags[i];
  cpc::ExecuteArgs a;
  a.origin_key = origin;
  a.host = "127.0.0.1";
  a.port = port;
  a.method = kMethods[flags & 3];
  a.target = "/";
  a.host_header = "127.0.0.1";
  static const char kBody[] = "abc";
  if ((flags & 3) == 2) {
    a.body = kBody;
    a.body_length = 3;
  }
  a.user = reinterpret_cast<void*>(static_cast<uintptr_t>(i));
  sent++;
  pool->execute(a, &handles[i]);
  if (flags & 4) pool->abort(handles[i], cpc::make_error(cpc::ErrorCode::kAborted, "aborted"));
  if (flags & 8) uv_timer_start(&aborter, on_abort_later, 1, 0);
}

void Harness::send_next() { send(sent); }

template <typename F>
void Harness::drive(F done, const char* what) {
  const uint64_t start = uv_hrtime();
  while (!done()) {
    uv_run(&loop, UV_RUN_ONCE);
    if ((uv_hrtime() - start) / 1000000 > kInputDeadlineMs) {
      fprintf(stderr, "connection_fuzz: %s did not happen within %llu ms (delivered %zu of %zu, "
              "server connections open %zu)\n", what,
              static_cast<unsigned long long>(kInputDeadlineMs), delivered, plan->requests, live_conns);
      abort();
    }
  }
}

void Harness::init() {
  // A server write to a socket the client reset must be EPIPE, not a signal
  // (Node ignores SIGPIPE too).
  signal(SIGPIPE, SIG_IGN);
  FUZZ_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  uv_tcp_init(&loop, &listener);
  listener.data = this;
  sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  FUZZ_CHECK(uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&addr), 0) == 0, "bind");
  FUZZ_CHECK(uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 128, on_connection) == 0, "listen");
  sockaddr_storage bound;
  int len = sizeof(bound);
  uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&bound), &len);
  port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  origin = "http://127.0.0.1:" + std::to_string(port);
  uv_timer_init(&loop, &ticker);
  uv_timer_init(&loop, &aborter);
  aborter.data = this;
}

void count_handle(uv_handle_t* hd, void* arg) {
  if (!uv_is_closing(hd)) ++*static_cast<int*>(arg);
}

void Harness::run(const Plan& p) {
  plan = &p;
  next_script = 0;
  sent = 0;
  delivered = 0;
  close_done = false;
  shutdown_done = false;
  for (Result& r : results) r = Result{};
  config = cpc::Config{};
  config.keep_alive = !(p.config & 1);
  if (p.config & 2) config.max_response_size = 16;
  if (p.config & 4) config.max_requests_per_socket = 1;
  if (p.config & 8) config.max_header_size = 128;
  if (p.config & 32) config.scheduling = cpc::Scheduling::kFifo;
  if (p.config & 128) config.max_sockets = 1;
  config.timeout_ms = kRequestTimeoutMs;
  config.connect_timeout_ms = 1000;
  config.cleanup_period_ms = 1000;

  uv_timer_start(&ticker, [](uv_timer_t*) {}, 5, 5);
  pool = new cpc::Pool(&loop, config, &sink);
  pool->set_events_enabled(p.config & 16);
  if (p.config & 0x80) {
    for (size_t i = 0; i < p.requests; i++) send(i);
  } else {
    send_next();
  }
  drive([&] { return delivered == p.requests; }, "every request ending");
  FUZZ_CHECK(sent == p.requests, "sent %zu of %zu", sent, p.requests);

  FUZZ_CHECK(pool->sweep_now() == 0, "the leak audit found a leak");
  cpc::MetricsSnapshot m;
  pool->metrics(&m);
  const cpc::Counters& k = m.counters;
  FUZZ_CHECK(k.total_requests == p.requests, "total %llu, sent %zu",
             static_cast<unsigned long long>(k.total_requests), p.requests);
  FUZZ_CHECK(k.completed_requests + k.failed_requests == k.total_requests,
             "completed %llu + failed %llu != total %llu",
             static_cast<unsigned long long>(k.completed_requests),
             static_cast<unsigned long long>(k.failed_requests),
             static_cast<unsigned long long>(k.total_requests));
  FUZZ_CHECK(k.socket_leaks == 0, "socketLeaks %llu", static_cast<unsigned long long>(k.socket_leaks));
  FUZZ_CHECK(m.pending_requests == 0, "pending %llu", static_cast<unsigned long long>(m.pending_requests));
  FUZZ_CHECK(m.active_connections == 0, "active %llu after every request ended",
             static_cast<unsigned long long>(m.active_connections));
  FUZZ_CHECK(pool->live_requests() == 0, "live requests %zu", pool->live_requests());

  if (p.config & 64) {
    pool->close(nullptr);
    drive([&] { return close_done; }, "close() finishing");
    pool->metrics(&m);
    FUZZ_CHECK(m.active_connections + m.idle_connections == 0, "sockets open after close()");
  }
  pool->shutdown();
  drive([&] { return shutdown_done; }, "the pool shutting down");
  for (ServerConn* c : conns) {
    if (c) close_conn(c, false);
  }
  drive([&] { return live_conns == 0; }, "the server connections closing");
  conns.clear();
  uv_timer_stop(&ticker);
  uv_timer_stop(&aborter);
  // Only the harness's own handles (listener, ticker, aborter) remain.
  uv_run(&loop, UV_RUN_NOWAIT);
  int open = 0;
  uv_walk(&loop, count_handle, &open);
  FUZZ_CHECK(open == 3, "%d handles open on the loop after the input (expected 3)", open);
  plan = nullptr;
}

Plan read_plan(cpc_fuzz::Input& in) {
  Plan p;
  p.config = in.u8();
  p.requests = 2 + (in.u8() & 1);
  for (uint8_t& f : p.request_flags) f = in.u8();
  const size_t n = 1 + (in.u8() & 3);
  for (size_t i = 0; i < n && in.remaining() > 0; i++) {
    Script s;
    const uint8_t mode = in.u8();
    s.mode = static_cast<Mode>(mode & 3);
    s.poke = mode & 4;
    s.chunks.resize(in.u8() & 7);
    for (size_t& c : s.chunks) c = in.u16();
    s.bytes = in.bytes(in.u16());
    p.scripts.push_back(std::move(s));
  }
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!g_harness) {
    g_harness = new Harness;  // lives for the whole process, like its loop
    g_harness->init();
  }
  cpc_fuzz::Input in(data, size);
  const Plan plan = read_plan(in);
  g_harness->run(plan);
  return 0;
}
