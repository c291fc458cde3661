#include "core/errors.h"

#include <uv.h>

namespace cpc {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return nullptr;
    case ErrorCode::kInvalidUrl: return "ERR_INVALID_URL";
    case ErrorCode::kInvalidArg: return "ERR_INVALID_ARG_VALUE";
    case ErrorCode::kSystem: return nullptr;
    case ErrorCode::kConnectTimeout: return "ERR_POOL_CONNECT_TIMEOUT";
    case ErrorCode::kRequestTimeout: return "ERR_POOL_REQUEST_TIMEOUT";
    case ErrorCode::kResponseTooLarge: return "ERR_POOL_RESPONSE_TOO_LARGE";
    case ErrorCode::kParse: return "ERR_POOL_PARSE";
    case ErrorCode::kSocketClosed: return "ERR_POOL_SOCKET_CLOSED";
    case ErrorCode::kQueueFull: return "ERR_POOL_QUEUE_FULL";
    case ErrorCode::kTls: return "ERR_POOL_TLS";
    case ErrorCode::kClosed: return "ERR_POOL_CLOSED";
    case ErrorCode::kAborted: return "ABORT_ERR";
    case ErrorCode::kUnsupported: return "ERR_POOL_UNSUPPORTED";
    case ErrorCode::kConfig: return "ERR_POOL_CONFIG";
    case ErrorCode::kNoEndpoint: return "ERR_POOL_NO_ENDPOINT";
    case ErrorCode::kHttpStatus: return "ERR_POOL_HTTP_STATUS";
  }
  return "ERR_POOL_UNKNOWN";
}

std::string Error::js_code() const {
  if (code == ErrorCode::kSystem) {
    // Node names failed lookups ENOTFOUND (dns.lookup does the same mapping).
    if (sys == UV_EAI_NONAME || sys == UV_EAI_NODATA) return "ENOTFOUND";
    // uv_err_name_r does not leak on unknown codes, unlike uv_err_name.
    char buf[64];
    uv_err_name_r(sys, buf, sizeof(buf));
    return buf;
  }
  const char* name = error_code_name(code);
  return name ? name : "";
}

Error make_error(ErrorCode code, std::string message, std::string reason) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  e.reason = std::move(reason);
  return e;
}

Error make_system_error(int uv_errno, const char* syscall) {
  Error e;
  e.code = ErrorCode::kSystem;
  e.sys = uv_errno;
  e.syscall = syscall;
  char buf[128];
  uv_strerror_r(uv_errno, buf, sizeof(buf));
  char name[64];
  uv_err_name_r(uv_errno, name, sizeof(name));
  e.message = std::string(syscall) + " " + name + " (" + buf + ")";
  return e;
}

}  // namespace cpc
