// Error codes of the core and their names in the public contract (API.md).
// One enum, one table (errors.cc): every failure the core reports is an
// Error whose code maps to exactly one API.md code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cpc {

enum class ErrorCode : uint8_t {
  kOk = 0,
  kInvalidUrl,        // ERR_INVALID_URL
  kInvalidArg,        // ERR_INVALID_ARG_VALUE
  kSystem,            // a libuv/system error; Error::sys holds the uv errno
  kConnectTimeout,    // ERR_POOL_CONNECT_TIMEOUT
  kRequestTimeout,    // ERR_POOL_REQUEST_TIMEOUT
  kResponseTooLarge,  // ERR_POOL_RESPONSE_TOO_LARGE
  kParse,             // ERR_POOL_PARSE; Error::reason holds llhttp's HPE_* name
  kSocketClosed,      // ERR_POOL_SOCKET_CLOSED
  kQueueFull,         // ERR_POOL_QUEUE_FULL
  kTls,               // ERR_POOL_TLS
  kClosed,            // ERR_POOL_CLOSED
  kAborted,           // ABORT_ERR
  kUnsupported,       // ERR_POOL_UNSUPPORTED
  kConfig,            // ERR_POOL_CONFIG
  kNoEndpoint,        // ERR_POOL_NO_ENDPOINT; Error::causes holds each endpoint's last error
  kHttpStatus,        // ERR_POOL_HTTP_STATUS: a BalancedPool endpoint answered 502/503/504
};

struct Error {
  ErrorCode code = ErrorCode::kOk;
  int sys = 0;           // uv errno (negative) when code == kSystem
  std::string reason;    // parser / TLS reason, empty otherwise
  std::string message;   // human-readable; may be empty (the JS layer has defaults)
  std::string origin;    // the origin it concerns, where the error is one of several
  std::vector<Error> causes;  // kNoEndpoint: the last error of each endpoint

  bool ok() const { return code == ErrorCode::kOk; }
  void clear() {
    code = ErrorCode::kOk;
    sys = 0;
    reason.clear();
    message.clear();
    origin.clear();
    causes.clear();
    syscall = "";
  }
  // The code as API.md names it: "ERR_POOL_PARSE", or Node's name of a
  // system error ("ECONNREFUSED").
  std::string js_code() const;
  // The system call name for kSystem errors ("connect", "read", ...), or "".
  const char* syscall = "";
};

Error make_error(ErrorCode code, std::string message = {}, std::string reason = {});
Error make_system_error(int uv_errno, const char* syscall);

// API.md name of a non-system code ("ERR_POOL_CLOSED"); nullptr for kOk/kSystem.
const char* error_code_name(ErrorCode code);

}  // namespace cpc
