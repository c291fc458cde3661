// The JS class NativePool (wrapped by lib/connection-pool-core.js) and the
// bridge that receives the core's results.
//
// Ownership: PoolWrap (GC-managed) points at a PoolBridge (heap). The bridge
// owns the core Pool and outlives the wrap when needed: the core's handles
// close asynchronously, so the bridge deletes itself (and the Pool) in
// on_shutdown_complete(), after the last close callback, whether shutdown
// began with destroy-on-GC or with the environment's async cleanup hook.
#pragma once

#include <napi.h>
#include <node_api.h>

#include <memory>
#include <string>
#include <vector>

#include "addon/result_batch.h"
#include "core/pool.h"

namespace cpc_addon {

class PoolWrap;

// What the hot execute() path holds instead of the wrapper object: finding
// the PoolWrap behind `this` (napi_unwrap) costs a private-symbol property
// lookup per call, reading an External's pointer does not. Owned jointly by
// the PoolWrap and every External made of it; the last owner frees it. The
// wrap clears `wrap` when it goes, so a late call finds no pool; between the
// collection of the wrap's JS object and its finalizer, the call checks that
// the object is still there.
struct WrapHandle {
  PoolWrap* wrap;
  int owners;
};

class PoolBridge : public cpc::PoolSink {
 public:
  PoolBridge(Napi::Env env, const cpc::Config& config, cpc::TlsOptions tls, Napi::Function emit,
             Napi::Function on_batch);
  ~PoolBridge() override;

  cpc::Pool& pool() { return *pool_; }
  Napi::Env env() const { return env_; }

  // The wrap is gone (GC): stop talking to JS and shut the core down.
  void detach();
  // destroy(err?): fails the live requests, with `err` when given (empty:
  // the core's ERR_POOL_CLOSED).
  void destroy(Napi::Value err);
  // Keep the JS wrapper alive while the core has work that will settle a
  // promise, so `new Pool().execute(url)` is never collected mid-request.
  void on_work_started();
  void on_work_finished(size_t n);

  void deliver(cpc::Request* const* done, size_t done_count, const cpc::Event* events,
               size_t event_count, const cpc::Notice* notices, size_t notice_count) override;
  void on_shutdown_complete() override;

 private:
  friend class PoolWrap;
  static void on_env_teardown(napi_async_cleanup_hook_handle handle, void* arg);

  Napi::Env env_;
  std::unique_ptr<cpc::Pool> pool_;
  Napi::FunctionReference emit_;          // EventEmitter#emit bound to the JS pool
  Napi::FunctionReference on_batch_;      // lib's reader of ResultBatch
  ResultBatch batch_;
  Napi::ObjectReference resource_;        // async resource for callback scopes
  napi_async_context async_context_ = nullptr;
  Napi::Reference<Napi::Value> destroy_error_;
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;
  PoolWrap* wrap_ = nullptr;               // Borrowed; cleared when the wrap is collected.
  size_t outstanding_ = 0;                 // promises the core will settle
  bool detached_ = false;                  // no JS calls any more
  bool destroyed_ = false;                 // destroy() was called
};

class PoolWrap : public Napi::ObjectWrap<PoolWrap> {
 public:
  friend class PoolBridge;
  static Napi::Function Init(Napi::Env env);
  // binding.execute(handle, targetId, ...), a module function: `handle` from
  // callHandle(), so no napi_unwrap per call.
  static Napi::Value ExecuteByHandle(const Napi::CallbackInfo& info);
  explicit PoolWrap(const Napi::CallbackInfo& info);
  ~PoolWrap() override;

 private:
  Napi::Value RegisterTarget(const Napi::CallbackInfo& info);
  // ExecuteByHandle's work, once the handle has found this wrap.
  Napi::Value Execute(const Napi::CallbackInfo& info);
  Napi::Value CallHandle(const Napi::CallbackInfo& info);
  Napi::Value ClearTargets(const Napi::CallbackInfo& info);
  Napi::Value Arena(const Napi::CallbackInfo& info);
  Napi::Value HeaderShape(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Warmup(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value GetMetrics(const Napi::CallbackInfo& info);
  Napi::Value SetEventsEnabled(const Napi::CallbackInfo& info);
  Napi::Value SweepNow(const Napi::CallbackInfo& info);
  Napi::Value CreateBalancer(const Napi::CallbackInfo& info);
  Napi::Value BalancerAdd(const Napi::CallbackInfo& info);
  Napi::Value BalancerRemove(const Napi::CallbackInfo& info);
  Napi::Value BalancerStats(const Napi::CallbackInfo& info);
  Napi::Value BalancerClose(const Napi::CallbackInfo& info);
  Napi::Value ExecuteBalanced(const Napi::CallbackInfo& info);
  // Reads init.headers (flat [name, value, ...]) and the body into scratch.
  void read_headers_and_body(const Napi::CallbackInfo& info, size_t headers_at, size_t body_at,
                             const char** body, size_t* body_length);
  Napi::Value CorruptForTest(const Napi::CallbackInfo& info);

  // A URL registered once by lib/ (registerTarget), so execute() passes a
  // number instead of five strings.
  struct Target {
    std::string origin;       // "http://127.0.0.1:8080"
    std::string host;         // to connect; IPv6 without brackets
    uint16_t port;
    bool https;
    std::string path;         // "/path?query"
    std::string host_header;  // URL.host
  };

  PoolBridge* bridge_ = nullptr;   // Owned until detach(); then it frees itself.
  WrapHandle* handle_ = nullptr;   // Shared with callHandle()'s Externals.
  std::vector<Target> targets_;
  // Scratch reused across execute() calls: steady state allocates nothing here.
  std::string origin_, host_, method_, body_text_;
  std::vector<std::string> header_strings_;
  std::vector<cpc::HeaderPair> header_pairs_;
};

}  // namespace cpc_addon
