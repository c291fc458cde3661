// An HTTP/1.1 server for the pool tests, on the test's own uv loop.
//
// It listens on 127.0.0.1 (port 0), records every accepted connection (the
// client's port identifies the client socket) and every request, and answers
// from a Script: keep-alive by default, or held until the test releases the
// answer, or never, or followed by extra bytes, or with the connection closed
// right after the answer or instead of it. Like undici's misbehaving raw
// servers, it misbehaves only where a test asks it to.
//
// Lifetime: close() stops listening and closes every connection; closed()
// turns true once every close callback ran, after which the loop holds
// nothing of the server and it may be destroyed.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace cpc_test {

struct ServerRequest {
  size_t conn = 0;         // index into TestServer::connections()
  size_t seq_on_conn = 0;  // 1 for the first request on its connection
  std::string method;
  std::string target;
  std::string head;        // request line + headers as received
  std::string body;
  // First value of a header (name compared case-insensitively), or "".
  std::string header(std::string_view name) const;
};

struct ServerConnection {
  uint16_t peer_port = 0;  // the client's port: which client socket this is
  bool open = true;
  size_t requests = 0;
};

// How the server answers. Tests change it between requests.
struct Script {
  // The response bytes for a request. Default: 200, keep-alive, the body is
  // the request target (so a response proves which request it answers).
  std::function<std::string(const ServerRequest&)> respond;
  // Queue answers until release() instead of answering at once.
  bool hold = false;
  // Close the connection once the answer is written (the answer itself does
  // not say so: the client learns it from the FIN).
  bool close_after_response = false;
  // Close a connection unanswered when its Nth request arrives (1-based;
  // 0 = never): the idle-socket race seen from the client.
  size_t drop_on_request = 0;
  // Written in the same write right after each answer.
  std::string extra_bytes;
};

// "HTTP/1.1 <status> OK", Content-Length, optional extra header lines
// ("Name: value\r\n" each), then the body.
std::string http_response(std::string_view body, int status = 200,
                          std::string_view extra_headers = {});

class TestServer {
 public:
  explicit TestServer(uv_loop_t* loop);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // Binds 127.0.0.1:0 and listens; returns 0 or a uv error.
  int listen();
  uint16_t port() const { return port_; }

  Script script;

  // Answers up to n held requests, oldest first; returns how many it answered.
  size_t release(size_t n = 1);
  size_t held() const { return held_.size(); }
  // Closes every open connection that has no held request (FIN to the client).
  void close_idle();
  // Writes raw bytes on every open connection.
  void send_to_all(const std::string& bytes);
  // Stops listening and closes every connection.
  void close();
  bool closed() const { return !listener_open_ && live_ == 0; }

  const std::vector<ServerConnection>& connections() const { return connections_; }
  const std::vector<ServerRequest>& requests() const { return requests_; }
  size_t open_connections() const { return live_; }
  size_t max_open_connections() const { return max_live_; }

 private:
  struct Conn;
  struct Write;

  static void on_connection(uv_stream_t* server, int status);
  static void on_listener_closed(uv_handle_t* h);
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_conn_closed(uv_handle_t* h);

  void parse(Conn* c);
  void answer(Conn* c, const ServerRequest& req);
  void write(Conn* c, std::string bytes, bool close_after);
  void close_conn(Conn* c);

  uv_loop_t* const loop_;  // Borrowed; outlives the server.
  // Owned by TestServer. Closed in close(); listener_.data == this.
  uv_tcp_t listener_;
  bool listener_open_ = false;
  uint16_t port_ = 0;
  // Live connections by index (nullptr once freed). Each Conn is owned here
  // and deleted in on_conn_closed(), never earlier.
  std::vector<Conn*> conns_;
  std::vector<ServerConnection> connections_;
  std::vector<ServerRequest> requests_;
  std::deque<size_t> held_;  // indices into requests_, oldest first
  size_t live_ = 0;
  size_t max_live_ = 0;
  char read_buffer_[64 * 1024];
};

}  // namespace cpc_test
