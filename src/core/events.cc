#include "core/events.h"

namespace cpc {

const char* close_reason_name(CloseReason reason) {
  switch (reason) {
    case CloseReason::kNone: return "none";
    case CloseReason::kIdleTimeout: return "idle-timeout";
    case CloseReason::kMaxFree: return "max-free";
    case CloseReason::kMaxRequests: return "max-requests";
    case CloseReason::kLifetime: return "lifetime";
    case CloseReason::kServerClosed: return "server-closed";
    case CloseReason::kError: return "error";
    case CloseReason::kPoolClosed: return "pool-closed";
    case CloseReason::kNoKeepAlive: return "no-keep-alive";
  }
  return "unknown";
}

}  // namespace cpc
