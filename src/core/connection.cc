#include "core/connection.h"

#include <sys/socket.h>

#include <cassert>
#include <cerrno>
#include <cstring>

#include "core/address_order.h"
#include "core/origin_pool.h"
#include "core/pool.h"
#include "core/tls_session.h"

namespace cpc {
namespace {

// One read buffer per loop thread: libuv calls alloc and read back to back,
// and the parser copies what it keeps, so every socket can share it.
constexpr size_t kReadBufferSize = 64 * 1024;
thread_local char g_read_buffer[kReadBufferSize];
// TLS scratch, shared like the read buffer: every use is synchronous (the
// plaintext is parsed, the ciphertext written or copied into the socket's
// queue before the call returns), so no socket keeps a 16 KiB buffer.
thread_local std::string g_tls_plain;   // decrypted bytes of one read
thread_local std::string g_tls_cipher;  // handshake flights / records to send

Connection* from(uv_handle_t* h) { return static_cast<Connection*>(h->data); }

// TCP_KEEPIDLE takes whole seconds; Linux refuses more than 32767
// (MAX_TCP_KEEPIDLE) with EINVAL.
constexpr uint64_t kMaxKeepIdleS = 32767;

// keepAliveMsecs -> the SO_KEEPALIVE initial delay in seconds: rounded to
// the nearest second (1499 ms -> 1 s, 1500 ms -> 2 s), at least 1 s (0 is
// refused) and at most kMaxKeepIdleS.
unsigned keepalive_delay_s(uint64_t ms) {
  uint64_t s = ms / 1000 + (ms % 1000 >= 500 ? 1 : 0);
  if (s < 1) s = 1;
  if (s > kMaxKeepIdleS) s = kMaxKeepIdleS;
  return static_cast<unsigned>(s);
}

bool parse_literal(const std::string& host, uint16_t port, sockaddr_storage* out) {
  memset(out, 0, sizeof(*out));
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  if (uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0) return true;
  return false;
}

}  // namespace

const char* Connection::state_name(State s) {
  switch (s) {
    case State::kConnecting: return "connecting";
    case State::kActive: return "active";
    case State::kIdle: return "idle";
    case State::kClosing: return "closing";
  }
  return "unknown";
}

Connection::Connection(OriginPool* o, uint64_t conn_id) : id(conn_id), origin(o) {
  uv_loop_t* loop = origin->pool()->loop();
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  open_handles_++;
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  created_ms = uv_now(loop);
  start_ns = uv_hrtime();
}

Connection::~Connection() { assert(handles_closed()); }

Connection::ConnectState::~ConnectState() {
  if (addrs) uv_freeaddrinfo(addrs);
}

void Connection::defer_error(Error err) {
  deferred_error_ = std::make_unique<Error>(std::move(err));
  uv_timer_start(&timer_, on_deferred_error, 0, 0);
}

void Connection::start(uint64_t connect_timeout_ms) {
  Pool* pool = origin->pool();
  connect_ = std::make_unique<ConnectState>();
  connect_->connect_req.data = this;
  connect_->dns_req.data = this;
  if (connect_timeout_ms > 0) {
    uv_timer_start(&timer_, on_connect_timeout, connect_timeout_ms, 0);
  }
  if (!origin->addresses_for_test().empty()) {
    std::vector<const sockaddr*> all;
    for (const sockaddr_storage& a : origin->addresses_for_test()) {
      all.push_back(reinterpret_cast<const sockaddr*>(&a));
    }
    try_addresses(all);
    return;
  }
  if (parse_literal(origin->host(), origin->port(), &connect_->literal)) {
    connect_->use_literal = true;
    connect_next();
    return;
  }
  addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  int rc = uv_getaddrinfo(pool->loop(), &connect_->dns_req, on_dns, origin->host().c_str(),
                          origin->port_string(), &hints);
  if (rc != 0) {
    // Report from a loop callback, never inside the call that started it.
    defer_error(make_system_error(rc, "getaddrinfo"));
    return;
  }
  dns_pending_ = true;
}

void Connection::on_dns(uv_getaddrinfo_t* req, int status, struct addrinfo* res) {
  Connection* c = static_cast<Connection*>(req->data);
  Pool::Entry entry(*c->origin->pool());
  c->dns_pending_ = false;
  if (c->state == State::kClosing) {
    if (res) uv_freeaddrinfo(res);
    c->handle_closed();
    return;
  }
  if (status < 0) {
    c->connect_failed(make_system_error(status, "getaddrinfo"));
    return;
  }
  c->connect_->addrs = res;
  std::vector<const sockaddr*> all;
  for (addrinfo* a = res; a; a = a->ai_next) {
    if (a->ai_family == AF_INET || a->ai_family == AF_INET6) all.push_back(a->ai_addr);
  }
  c->try_addresses(all);
}

void Connection::try_addresses(const std::vector<const sockaddr*>& addrs) {
  // Successive connections start at successive addresses; refused ones go last.
  connect_->order = order_addresses(addrs, origin->take_address_turn(), origin->refused(),
                                   uv_now(origin->pool()->loop()));
  connect_->next = 0;
  connect_next();
}

void Connection::connect_next() {
  ConnectState& cs = *connect_;
  const sockaddr* addr = nullptr;
  if (cs.use_literal) {
    if (!cs.literal_tried) addr = reinterpret_cast<const sockaddr*>(&cs.literal);
    cs.literal_tried = true;
  } else {
    if (cs.next < cs.order.size()) addr = cs.order[cs.next++];
  }
  if (!addr) {
    connect_failed(make_system_error(cs.last_error ? cs.last_error : UV_EADDRNOTAVAIL, "connect"));
    return;
  }
  cs.current = addr;
  const Config& cfg = origin->pool()->config();
  uv_tcp_init(origin->pool()->loop(), &tcp_);
  tcp_.data = this;
  tcp_open_ = true;
  open_handles_++;
  // libuv applies this flag when it creates the socket in uv_tcp_connect.
  uv_tcp_nodelay(&tcp_, cfg.no_delay ? 1 : 0);
  int rc = uv_tcp_connect(&cs.connect_req, &tcp_, addr, on_connect);
  if (rc == 0 && cfg.keep_alive) {
    // Only keepAlive sockets probe, as with http.Agent. Set once the socket
    // exists: a keep-alive flag set before uv_tcp_connect is applied by
    // libuv with a fixed 60 s delay (uv__stream_open), whatever was asked.
    // Best effort, like Node's setKeepAlive: a refusal keeps the OS default.
    (void)uv_tcp_keepalive(&tcp_, 1, keepalive_delay_s(cfg.keep_alive_msecs));
  }
  if (rc != 0) {
    // Refused inside the call (no socket for this family, EADDRNOTAVAIL,
    // ENETUNREACH, EMFILE): as on_connect's asynchronous failure, close this
    // handle and try the next address once its close callback has run
    // (on_tcp_closed -> connect_next). The request is failed from there, a
    // loop callback, never inside the call that started the connect.
    cs.last_error = rc;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_tcp_closed);
  }
}

void Connection::on_connect(uv_connect_t* req, int status) {
  Connection* c = static_cast<Connection*>(req->data);
  if (status == UV_ECANCELED) return;  // closing; on_tcp_closed follows
  Pool::Entry entry(*c->origin->pool());
  if (c->state == State::kClosing) return;
  if (status < 0) {
    ConnectState& cs = *c->connect_;
    cs.last_error = status;
    if (status == UV_ECONNREFUSED && !cs.use_literal && cs.current) {
      c->origin->note_refused(cs.current);
    }
    // Try the next address on a fresh handle once this one has closed.
    if (cs.use_literal || cs.next >= cs.order.size()) {
      c->connect_failed(make_system_error(status, "connect"));
    } else {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp_), on_tcp_closed);
    }
    return;
  }
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp_), on_alloc, on_read);
  if (rc != 0) {
    c->connect_failed(make_system_error(rc, "read"));
    return;
  }
  c->reading_ = true;
  if (c->origin->https()) {
    // connectTimeout keeps running: it covers the handshake too.
    Error tls_err;
    TlsContext* ctx = c->origin->pool()->tls_context(&tls_err);
    if (!ctx) {
      c->connect_failed(std::move(tls_err));
      return;
    }
    c->tls_ = std::make_unique<TlsSession>(ctx, c->origin->host(), c->origin->key());
    std::string& hello = g_tls_cipher;
    hello.clear();
    if (c->tls_->start(&hello) != TlsSession::Status::kOk) {
      c->connect_failed(c->tls_->error());
      return;
    }
    c->write_raw(hello.data(), hello.size());
    return;
  }
  c->connected();
}

void Connection::connected() {
  uv_timer_stop(&timer_);
  // libuv is done with the connect (and DNS) request: an open socket need
  // not carry them. (Called from on_connect at the latest, never earlier.)
  connect_.reset();
  connect_ms = static_cast<double>(uv_hrtime() - start_ns) / 1e6;
  origin->on_connected(this);
}

void Connection::connect_failed(Error err) {
  uv_timer_stop(&timer_);
  origin->on_connect_failed(this, std::move(err));
}

void Connection::on_connect_timeout(uv_timer_t* t) {
  Connection* c = from(reinterpret_cast<uv_handle_t*>(t));
  Pool::Entry entry(*c->origin->pool());
  if (c->state != State::kConnecting) return;
  c->connect_failed(make_error(ErrorCode::kConnectTimeout,
                               "Connecting to " + c->origin->key() + " timed out"));
}

void Connection::on_deferred_error(uv_timer_t* t) {
  Connection* c = from(reinterpret_cast<uv_handle_t*>(t));
  Pool::Entry entry(*c->origin->pool());
  Error err = c->deferred_error_ ? std::move(*c->deferred_error_) : Error();
  c->deferred_error_.reset();
  switch (c->state) {
    case State::kConnecting: c->connect_failed(std::move(err)); break;
    case State::kActive: c->origin->on_write_error(c, std::move(err)); break;
    case State::kIdle: c->origin->on_transport_error(c, std::move(err)); break;
    default: break;
  }
}

void Connection::send(const std::string& head, const std::string& body) {
  origin->pool()->counters().bytes_sent += head.size() + body.size();
  if (tls_) {
    std::string& cipher = g_tls_cipher;
    cipher.clear();
    if (!tls_->encrypt(head.data(), head.size(), &cipher) ||
        (!body.empty() && !tls_->encrypt(body.data(), body.size(), &cipher))) {
      defer_error(tls_->error());
      return;
    }
    write_raw(cipher.data(), cipher.size());
    if (cipher.capacity() > 256 * 1024) std::string().swap(cipher);  // after a big upload
    return;
  }
  if (!write_pending()) {
    // The common case: both buffers go out in one writev, nothing is copied.
    uv_buf_t bufs[2] = {
        uv_buf_init(const_cast<char*>(head.data()), static_cast<unsigned>(head.size())),
        uv_buf_init(const_cast<char*>(body.data()), static_cast<unsigned>(body.size())),
    };
    int rc = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), bufs, body.empty() ? 1 : 2);
    size_t written = rc > 0 ? static_cast<size_t>(rc) : 0;
    // Errors other than EAGAIN surface from uv_write's callback below.
    if (written >= head.size()) {
      size_t from_body = written - head.size();
      if (from_body < body.size()) write_raw(body.data() + from_body, body.size() - from_body);
      return;
    }
    write_raw(head.data() + written, head.size() - written);
    write_raw(body.data(), body.size());
    return;
  }
  write_raw(head.data(), head.size());
  write_raw(body.data(), body.size());
}

// Keeps bytes in order behind any write in flight. The request slot may be
// recycled before the write ends, so the bytes are copied here.
void Connection::write_raw(const char* data, size_t len) {
  if (len == 0) return;
  if (!write_pending()) {
    uv_buf_t buf = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(len));
    int rc = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1);
    if (rc > 0) {
      data += rc;
      len -= static_cast<size_t>(rc);
    }
    if (len == 0) return;
  }
  if (!write_) {
    write_ = std::make_unique<WriteState>();
    write_->req.data = this;
  }
  write_->queued.append(data, len);
  if (!writing_) start_write();
}

void Connection::start_write() {
  WriteState& w = *write_;
  w.inflight.swap(w.queued);
  w.queued.clear();
  uv_buf_t buf = uv_buf_init(w.inflight.data(), static_cast<unsigned>(w.inflight.size()));
  int rc = uv_write(&w.req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, on_write);
  if (rc != 0) {
    defer_error(make_system_error(rc, "write"));
    return;
  }
  writing_ = true;
}

void Connection::on_write(uv_write_t* req, int status) {
  Connection* c = static_cast<Connection*>(req->data);
  c->writing_ = false;
  if (status == UV_ECANCELED) return;
  Pool::Entry entry(*c->origin->pool());
  if (c->write_->inflight.capacity() > 64 * 1024) std::string().swap(c->write_->inflight);
  if (status < 0) {
    c->report_write_error(status);
    return;
  }
  if (!c->write_->queued.empty() && c->state != State::kClosing) c->start_write();
}

void Connection::report_write_error(int status) {
  Error err = make_system_error(status, "write");
  if (state == State::kConnecting) {
    connect_failed(std::move(err));
  } else if (state == State::kActive) {
    origin->on_write_error(this, std::move(err));
  }
}

bool Connection::looks_alive() {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return false;
  char probe;
  ssize_t n = recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;  // FIN
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;  // anything else: RST or worse
  // Bytes on an idle plain socket: unsolicited data, never reused.
  if (!tls_) return false;
  // On TLS they may be a session ticket the server sent after the handshake
  // (a socket opened by warmup() gets it while idle) or a key update: read
  // them now, as the read callback would. Bounded: a few records at most.
  std::string& plain = g_tls_plain;
  std::string& cipher = g_tls_cipher;
  for (int reads = 0; reads < 8; reads++) {
    n = recv(fd, g_read_buffer, kReadBufferSize, MSG_DONTWAIT);
    if (n == 0) return false;  // FIN behind the records
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      tls_->trim();
      return true;  // only records without data: still a good socket
    }
    plain.clear();
    cipher.clear();
    const TlsSession::Status st = tls_->on_input(g_read_buffer, static_cast<size_t>(n), &plain, &cipher);
    // close_notify, an alert, data nobody asked for, or records that want an
    // answer (a key update): not a socket to hand a request to.
    if (st != TlsSession::Status::kOk || !plain.empty() || !cipher.empty()) return false;
  }
  return false;  // still more: a server this chatty on an idle socket is not reused
}

void Connection::on_idle() {
  if (tls_) tls_->trim();
  // An idle socket with nothing left to send carries no write queue.
  if (write_ && !writing_ && write_->queued.empty()) write_.reset();
}

size_t Connection::memory_bytes() const {
  size_t bytes = sizeof(Connection) + parser.memory_bytes();
  if (connect_) bytes += sizeof(ConnectState) + connect_->order.capacity() * sizeof(const sockaddr*);
  if (write_) bytes += sizeof(WriteState) + write_->inflight.capacity() + write_->queued.capacity();
  if (deferred_error_) bytes += sizeof(Error);
  // The session object and its memory BIOs' buffers; OpenSSL's own SSL
  // structures are allocated inside Node's OpenSSL and cannot be seen here.
  if (tls_) bytes += sizeof(TlsSession) + tls_->buffered_capacity();
  return bytes;
}

bool Connection::tls_resumed() const { return tls_ && tls_->resumed(); }

void Connection::set_ref(bool ref) {
  if (!tcp_open_) return;
  uv_handle_t* h = reinterpret_cast<uv_handle_t*>(&tcp_);
  if (ref) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void Connection::on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(g_read_buffer, kReadBufferSize);
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  Connection* c = from(reinterpret_cast<uv_handle_t*>(s));
  if (nread == 0 || c->state == State::kClosing) return;
  Pool::Entry entry(*c->origin->pool(), Pool::From::kRead);
  if (nread < 0) {
    if (c->state == State::kConnecting) {
      c->connect_failed(nread == UV_EOF ? make_error(ErrorCode::kTls, "The server closed the connection during the TLS handshake", "socket hang up")
                                        : make_system_error(static_cast<int>(nread), "read"));
      return;
    }
    c->origin->on_eof(c, static_cast<int>(nread));
    return;
  }
  if (c->tls_) {
    c->on_tls_input(buf->base, static_cast<size_t>(nread));
    return;
  }
  c->origin->pool()->counters().bytes_received += static_cast<uint64_t>(nread);
  c->origin->on_bytes(c, buf->base, static_cast<size_t>(nread));
}

// Ciphertext in: handshake progress, plaintext for the parser, close_notify.
void Connection::on_tls_input(const char* data, size_t len) {
  std::string& plain = g_tls_plain;
  std::string& cipher = g_tls_cipher;
  plain.clear();
  cipher.clear();
  TlsSession::Status st = tls_->on_input(data, len, &plain, &cipher);
  if (!cipher.empty()) write_raw(cipher.data(), cipher.size());
  if (state == State::kConnecting) {
    if (st == TlsSession::Status::kHandshakeDone || tls_->handshake_done()) {
      connected();
      // on_connected may have closed this socket (pool closing, max free).
      if (state == State::kClosing) return;
    } else if (st == TlsSession::Status::kError) {
      connect_failed(tls_->error());
      return;
    } else if (st == TlsSession::Status::kClosed) {
      connect_failed(make_error(ErrorCode::kTls, "The server closed the TLS session during the handshake", "close_notify"));
      return;
    } else {
      return;  // more handshake flights to come
    }
  }
  // Plaintext first: a close or failure may follow a complete response.
  if (!plain.empty()) {
    origin->pool()->counters().bytes_received += plain.size();
    // Nothing below reads from the socket, so `plain` stays intact while the
    // parser (and a request started from its completion) runs.
    origin->on_bytes(this, plain.data(), plain.size());
    if (state == State::kClosing) return;
  }
  if (st == TlsSession::Status::kError) {
    origin->on_transport_error(this, tls_->error());
  } else if (st == TlsSession::Status::kClosed) {
    origin->on_eof(this, UV_EOF);
  } else if (state == State::kIdle) {
    tls_->trim();  // a ticket read while idle: drop the record buffers again
  }
  if (plain.capacity() > 256 * 1024) std::string().swap(plain);  // after a big download
}

void Connection::close_handles() {
  uv_timer_stop(&timer_);
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
  }
  if (dns_pending_) uv_cancel(reinterpret_cast<uv_req_t*>(&connect_->dns_req));
  if (tcp_open_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_tcp_closed);
  }
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed);
  }
}

void Connection::on_tcp_closed(uv_handle_t* h) {
  Connection* c = from(h);
  Pool::Entry entry(*c->origin->pool());
  c->tcp_open_ = false;
  c->open_handles_--;
  if (c->state == State::kClosing) {
    c->handle_closed();
  } else {
    c->connect_next();  // closed to try the next address
  }
}

void Connection::on_timer_closed(uv_handle_t* h) {
  Connection* c = from(h);
  Pool::Entry entry(*c->origin->pool());
  c->open_handles_--;
  c->handle_closed();
}

void Connection::handle_closed() {
  if (handles_closed()) origin->on_handles_closed(this);  // deletes this
}

}  // namespace cpc
