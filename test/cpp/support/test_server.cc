#include "support/test_server.h"

#include <arpa/inet.h>

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace cpc_test {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The value of header `name` in a request head, or "" (first match).
std::string find_header(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(start, end - start);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return std::string(v);
    }
    pos = end;
  }
  return {};
}

}  // namespace

std::string ServerRequest::header(std::string_view name) const { return find_header(head, name); }

std::string http_response(std::string_view body, int status, std::string_view extra_headers) {
  std::string s = "HTTP/1.1 " + std::to_string(status) + " OK\r\n";
  s += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  s.append(extra_headers);
  s += "\r\n";
  s.append(body);
  return s;
}

// One accepted connection. Owned by TestServer::conns_; closed only in
// close_conn(); deleted in on_conn_closed(). tcp.data == this.
struct TestServer::Conn {
  TestServer* server;
  size_t index;
  uv_tcp_t tcp;
  std::string in;       // bytes not yet parsed into a request
  bool closing = false;
};

// A write in flight; owns its bytes until the callback.
struct TestServer::Write {
  uv_write_t req;
  Conn* conn;           // Borrowed; its close callback runs after this write's.
  std::string bytes;
  bool close_after;
};

TestServer::TestServer(uv_loop_t* loop) : loop_(loop) {}

TestServer::~TestServer() { assert(closed()); }

int TestServer::listen() {
  int rc = uv_tcp_init(loop_, &listener_);
  if (rc != 0) return rc;
  listener_.data = this;
  listener_open_ = true;
  sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 128, on_connection);
  if (rc != 0) return rc;
  sockaddr_storage bound;
  int len = sizeof(bound);
  rc = uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  if (rc != 0) return rc;
  port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return 0;
}

void TestServer::on_connection(uv_stream_t* listener, int status) {
  TestServer* s = static_cast<TestServer*>(listener->data);
  if (status < 0) return;
  Conn* c = new Conn{s, s->conns_.size(), {}, {}, false};
  uv_tcp_init(s->loop_, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    c->closing = true;
    s->conns_.push_back(c);
    s->connections_.push_back(ServerConnection{0, true, 0});
    s->live_++;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_conn_closed);
    return;
  }
  sockaddr_storage peer;
  int len = sizeof(peer);
  uint16_t peer_port = 0;
  if (uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    peer_port = ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port);
  }
  s->conns_.push_back(c);
  s->connections_.push_back(ServerConnection{peer_port, true, 0});
  s->live_++;
  if (s->live_ > s->max_live_) s->max_live_ = s->live_;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
}

void TestServer::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  TestServer* s = static_cast<Conn*>(h->data)->server;
  *buf = uv_buf_init(s->read_buffer_, sizeof(s->read_buffer_));
}

void TestServer::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Conn* c = static_cast<Conn*>(stream->data);
  if (nread == 0 || c->closing) return;
  if (nread < 0) {  // EOF or reset: the client is gone
    c->server->close_conn(c);
    return;
  }
  c->in.append(buf->base, static_cast<size_t>(nread));
  c->server->parse(c);
}

// Splits complete requests (head + Content-Length body) off the input.
void TestServer::parse(Conn* c) {
  while (!c->closing) {
    size_t end = c->in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::string head = c->in.substr(0, end + 2);
    size_t body_len = 0;
    std::string cl = find_header(head, "content-length");
    if (!cl.empty()) body_len = static_cast<size_t>(std::strtoull(cl.c_str(), nullptr, 10));
    if (c->in.size() < end + 4 + body_len) return;
    ServerRequest req;
    req.conn = c->index;
    req.head = head;
    req.body = c->in.substr(end + 4, body_len);
    c->in.erase(0, end + 4 + body_len);
    size_t sp1 = head.find(' ');
    size_t sp2 = head.find(' ', sp1 + 1);
    req.method = head.substr(0, sp1);
    req.target = head.substr(sp1 + 1, sp2 - sp1 - 1);
    req.seq_on_conn = ++connections_[c->index].requests;
    requests_.push_back(req);
    if (script.drop_on_request != 0 && req.seq_on_conn == script.drop_on_request) {
      close_conn(c);
      return;
    }
    if (script.hold) {
      held_.push_back(requests_.size() - 1);
    } else {
      answer(c, req);
    }
  }
}

void TestServer::answer(Conn* c, const ServerRequest& req) {
  std::string bytes = script.respond ? script.respond(req) : http_response(req.target);
  bytes += script.extra_bytes;
  write(c, std::move(bytes), script.close_after_response);
}

void TestServer::write(Conn* c, std::string bytes, bool close_after) {
  if (c->closing) return;
  Write* w = new Write{{}, c, std::move(bytes), close_after};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, on_write) != 0) {
    delete w;
    close_conn(c);
  }
}

void TestServer::on_write(uv_write_t* req, int status) {
  Write* w = static_cast<Write*>(req->data);
  Conn* c = w->conn;
  const bool close_after = w->close_after;
  delete w;
  if (status == UV_ECANCELED) return;  // the connection is closing
  if (status < 0 || close_after) c->server->close_conn(c);
}

size_t TestServer::release(size_t n) {
  size_t answered = 0;
  while (answered < n && !held_.empty()) {
    const ServerRequest req = requests_[held_.front()];
    held_.pop_front();
    answered++;
    Conn* c = conns_[req.conn];
    if (c && !c->closing) answer(c, req);
  }
  return answered;
}

void TestServer::close_idle() {
  for (Conn* c : conns_) {
    if (!c || c->closing) continue;
    bool busy = false;
    for (size_t i : held_) busy = busy || requests_[i].conn == c->index;
    if (!busy) close_conn(c);
  }
}

void TestServer::send_to_all(const std::string& bytes) {
  for (Conn* c : conns_) {
    if (c && !c->closing) write(c, bytes, false);
  }
}

void TestServer::close() {
  if (listener_open_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), on_listener_closed);
  }
  for (Conn* c : conns_) {
    if (c) close_conn(c);
  }
}

void TestServer::on_listener_closed(uv_handle_t* h) {
  static_cast<TestServer*>(h->data)->listener_open_ = false;
}

void TestServer::close_conn(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  connections_[c->index].open = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_conn_closed);
}

void TestServer::on_conn_closed(uv_handle_t* h) {
  Conn* c = static_cast<Conn*>(h->data);
  TestServer* s = c->server;
  s->conns_[c->index] = nullptr;
  s->live_--;
  delete c;
}

}  // namespace cpc_test
