// One client socket to an origin: DNS, connect (trying each address),
// writes, reads into the loop's shared buffer, the response parser, and the
// two-step close. Connection does I/O and reports what happened to its
// OriginPool; it never changes its own State (OriginPool::transition does).
//
// Lifetime: created by OriginPool::open_connection(); closed only through
// OriginPool::transition(kClosing) -> close_handles(); deleted by the Pool in
// on_handles_closed() after every handle's close callback and the DNS
// request have completed, never in the turn that closed it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/events.h"
#include "core/intrusive_list.h"
#include "core/response_parser.h"

namespace cpc {

class OriginPool;
class TlsSession;
struct Request;

class Connection {
 public:
  enum class State : uint8_t {
    kConnecting,  // DNS / TCP connect in progress; in OriginPool::connecting_
    kActive,      // serving `request`; in OriginPool::active_
    kIdle,        // keep-alive, reading for FIN/RST; in OriginPool::idle_
    kClosing,     // handles closing; in OriginPool::closing_
  };

  Connection(OriginPool* origin, uint64_t id);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts DNS (or uses the IP literal) and connects; arms the connect timer.
  void start(uint64_t connect_timeout_ms);
  // Sends head + body (encrypted first on https): uv_try_write first, the
  // rest copied and queued.
  void send(const std::string& head, const std::string& body);
  // A cheap check before reuse: false when a FIN, RST or any bytes already
  // arrived on this idle socket (MSG_PEEK, no data consumed). On TLS, bytes
  // that arrived are read and decrypted now: post-handshake records with no
  // application data (TLS 1.3 session tickets, key updates) keep the socket;
  // a close_notify, an alert, data or a FIN behind them do not.
  bool looks_alive();
  // The socket went idle: give back what an idle socket need not hold.
  void on_idle();
  // TLS handshake done and resumed from a cached session (https only).
  bool tls_resumed() const;
  // Idle sockets do not keep the loop alive; busy ones do.
  void set_ref(bool ref);
  // Starts closing every handle; on_handles_closed() follows later.
  void close_handles();
  // Bytes of an earlier write are still queued or being written.
  bool write_pending() const { return writing_ || (write_ && !write_->queued.empty()); }
  bool handles_closed() const { return open_handles_ == 0 && !dns_pending_; }
  // What this socket holds on the heap now (OpenSSL's share of a TLS
  // session excepted): the object, and the connect and write state while
  // it has them.
  size_t memory_bytes() const;
  static const char* state_name(State s);

  const uint64_t id;
  OriginPool* const origin;       // Borrowed; the origin outlives its connections.
  State state = State::kConnecting;
  CloseReason close_reason = CloseReason::kNone;

  Request* request = nullptr;     // Borrowed; set only while kActive (request->conn == this).
  Request* reserved = nullptr;    // Borrowed; a retry waiting for this fresh socket.
  void* warmup = nullptr;         // Borrowed WarmupOp this socket was opened for, if any.

  uint64_t uses = 0;              // requests assigned so far
  uint64_t created_ms = 0;        // uv_now at creation
  uint64_t idle_since_ms = 0;     // uv_now when it last became idle
  uint64_t idle_timeout_ms = 0;   // this socket's idle limit (config or Keep-Alive hint)
  uint64_t start_ns = 0;
  double connect_ms = 0;
  uint64_t received_for_request = 0;  // response bytes seen for the current request
  bool reusable = true;           // false once anything makes reuse unsafe

  ResponseParser parser;

  ListHook state_hook;            // the OriginPool list matching `state`
  ListHook registry_hook;         // Pool::registry_ (every live Connection)

 private:
  static void on_dns(uv_getaddrinfo_t* req, int status, struct addrinfo* res);
  static void on_connect(uv_connect_t* req, int status);
  static void on_connect_timeout(uv_timer_t* t);
  static void on_deferred_error(uv_timer_t* t);
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_tcp_closed(uv_handle_t* h);
  static void on_timer_closed(uv_handle_t* h);

  // Orders `addrs` (borrowed: they must outlive the connect) and connects.
  void try_addresses(const std::vector<const sockaddr*>& addrs);
  void connect_next();
  void connect_failed(Error err);
  void connected();
  void handle_closed();
  // Queues ciphertext or plaintext bytes for the socket, in order.
  void write_raw(const char* data, size_t len);
  void start_write();
  void report_write_error(int status);
  void on_tls_input(const char* data, size_t len);

  // What only connecting needs: the DNS and connect requests and the
  // address list. Owned; created by start(), freed by connected() (an idle
  // socket does not carry it) or with the Connection. Its requests point
  // back here (req.data == this Connection).
  struct ConnectState {
    uv_connect_t connect_req;
    uv_getaddrinfo_t dns_req;
    struct addrinfo* addrs = nullptr;  // Owned: freed with uv_freeaddrinfo
    // Borrowed from addrs (or the origin's test addresses): the try order.
    std::vector<const sockaddr*> order;
    size_t next = 0;
    const sockaddr* current = nullptr;  // the address being connected to
    sockaddr_storage literal;
    bool use_literal = false;
    bool literal_tried = false;
    int last_error = 0;
    ~ConnectState();
  };
  // Bytes uv_try_write could not send at once, and the write request that
  // sends them. Owned; created by the first write that must queue, freed
  // when the socket goes idle with nothing in flight (on_idle()) or with
  // the Connection. write_->req.data == this Connection.
  struct WriteState {
    uv_write_t req;
    std::string inflight;  // bytes uv_write is sending now
    std::string queued;    // bytes to send once it is done
  };

  // Reports `err` from a zero-delay timer callback, never inside the call.
  void defer_error(Error err);

  // Owned by Connection. Initialised per connect attempt (one per address);
  // closed in close_handles() or before trying the next address. tcp_.data == this.
  uv_tcp_t tcp_;
  bool tcp_open_ = false;         // tcp_ initialised and its close callback not yet run
  bool reading_ = false;
  bool dns_pending_ = false;      // connect_->dns_req in flight; its callback frees itself
  bool writing_ = false;          // write_->req is in flight over write_->inflight
  int open_handles_ = 0;          // handles whose close callback has not run
  // Owned by Connection: connect timeout, reused for deferred write errors.
  // Closed only in close_handles(). timer_.data == this.
  uv_timer_t timer_;
  std::unique_ptr<ConnectState> connect_;
  std::unique_ptr<WriteState> write_;
  std::unique_ptr<Error> deferred_error_;  // set while on_deferred_error is due
  // https only: the TLS layer between the socket and the parser. Owned;
  // created when TCP connects, freed with the Connection.
  // Its scratch buffers are per thread (connection.cc), so an idle TLS
  // socket holds only what OpenSSL holds.
  std::unique_ptr<TlsSession> tls_;
};

}  // namespace cpc
