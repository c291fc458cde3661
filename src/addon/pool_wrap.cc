#include "addon/pool_wrap.h"

#include <uv.h>

#include "addon/convert.h"
#include "addon/instance.h"

namespace cpc_addon {
namespace {

// Reads a JS string into `out`, reusing its capacity. False if not a string.
bool read_utf8(napi_env env, napi_value v, std::string* out) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) return false;
  out->resize(len);
  size_t copied = 0;
  napi_get_value_string_utf8(env, v, out->data(), len + 1, &copied);
  out->resize(copied);
  return true;
}

// The error destroy() fails the live requests with. Requests made after
// destroy() fail with the core's "The pool is closed" instead, so only this
// message marks the requests that destroy(err)'s error belongs to.
constexpr const char kDestroyedMessage[] = "The pool was destroyed";

bool failed_by_destroy(const cpc::Error& err) {
  return err.code == cpc::ErrorCode::kClosed && err.message == kDestroyedMessage;
}

Napi::Value rejected(Napi::Env env, Napi::Value error) {
  Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
  d.Reject(error);
  return d.Promise();
}

}  // namespace

// ---- PoolBridge -----------------------------------------------------------

PoolBridge::PoolBridge(Napi::Env env, const cpc::Config& config, cpc::TlsOptions tls,
                       Napi::Function emit, Napi::Function on_batch)
    : env_(env), batch_(env) {
  on_batch_ = Napi::Persistent(on_batch);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  pool_ = std::make_unique<cpc::Pool>(loop, config, this, std::move(tls));
  emit_ = Napi::Persistent(emit);
  Napi::Object resource = Napi::Object::New(env);
  resource_ = Napi::Persistent(resource);
  napi_async_init(env, resource, Napi::String::New(env, "ConnectionPoolCore"), &async_context_);
  napi_add_async_cleanup_hook(env, on_env_teardown, this, &cleanup_hook_);
}

PoolBridge::~PoolBridge() {
  if (async_context_) napi_async_destroy(env_, async_context_);
}

void PoolBridge::on_env_teardown(napi_async_cleanup_hook_handle, void* arg) {
  // The environment (main thread or a worker) is ending: close every handle
  // and let the close callbacks run; Node waits until we remove the hook.
  PoolBridge* self = static_cast<PoolBridge*>(arg);
  self->detached_ = true;
  self->pool_->shutdown();
}

void PoolBridge::detach() {
  wrap_ = nullptr;
  detached_ = true;
  pool_->shutdown();
}

void PoolBridge::destroy(Napi::Value err) {
  // Only the first destroy() fails live requests; a later one finds none, and
  // must not change the error those still waiting for delivery get.
  if (destroyed_) return;
  destroyed_ = true;
  if (!err.IsEmpty()) destroy_error_ = Napi::Persistent(err);
  pool_->destroy(cpc::make_error(cpc::ErrorCode::kClosed, kDestroyedMessage));
}

void PoolBridge::on_work_started() {
  if (outstanding_++ == 0 && wrap_) wrap_->Ref();
}

void PoolBridge::on_work_finished(size_t n) {
  if (n == 0) return;
  outstanding_ -= n;
  if (outstanding_ == 0 && wrap_) wrap_->Unref();
}

void PoolBridge::deliver(cpc::Request* const* done, size_t done_count, const cpc::Event* events,
                         size_t event_count, const cpc::Notice* notices, size_t notice_count) {
  if (detached_) {
    // No JS may run (GC finalizer or environment teardown). The promises'
    // persistent handles go with the environment.
    outstanding_ -= std::min(outstanding_, done_count + notice_count);
    return;
  }
  Napi::Env env = env_;
  Napi::HandleScope handle_scope(env);
  // Settle inside a callback scope so continuations run when it closes,
  // here, and not after some unrelated later event (see BUILD.md).
  napi_callback_scope scope = nullptr;
  napi_open_callback_scope(env, resource_.Value(), async_context_, &scope);
  // Results: one call into JS per batch (see result_batch.h).
  size_t i = 0;
  while (i < done_count) {
    Napi::HandleScope per_batch(env);
    batch_.reset();
    for (; i < done_count; i++) {
      cpc::Request* req = done[i];
      Napi::Value error;
      if (!req->error.ok()) {
        if (!destroy_error_.IsEmpty() && failed_by_destroy(req->error)) {
          error = destroy_error_.Value();
        } else {
          error = error_to_js(env, req->error, req->origin ? req->origin->key() : std::string());
        }
      }
      if (!batch_.add(env, req, error)) break;
    }
    napi_value args[2] = {Napi::Number::New(env, static_cast<double>(batch_.count())),
                          batch_.extras(env)};
    napi_value result;
    if (napi_call_function(env, resource_.Value(), on_batch_.Value(), 2, args, &result) ==
        napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  }
  for (size_t i = 0; i < notice_count; i++) {
    const cpc::Notice& n = notices[i];
    napi_deferred deferred = static_cast<napi_deferred>(n.user);
    if (n.kind == cpc::Notice::Kind::kWarmupDone) {
      napi_resolve_deferred(env, deferred, Napi::Number::New(env, static_cast<double>(n.value)));
    } else {
      napi_resolve_deferred(env, deferred, env.Undefined());
    }
  }
  for (size_t i = 0; i < event_count && !emit_.IsEmpty(); i++) {
    Napi::HandleScope per_event(env);
    const cpc::Event& ev = events[i];
    napi_value args[2] = {Napi::String::New(env, event_name(ev.type)), event_to_js(env, ev)};
    napi_value result;
    napi_status st = napi_call_function(env, resource_.Value(), emit_.Value(), 2, args, &result);
    if (st == napi_pending_exception) {
      // A listener threw: report it like any uncaught exception.
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  }
  napi_close_callback_scope(env, scope);
  on_work_finished(done_count + notice_count);
}

void PoolBridge::on_shutdown_complete() {
  if (wrap_) wrap_->bridge_ = nullptr;
  napi_remove_async_cleanup_hook(cleanup_hook_);
  delete this;  // deletes the Pool; it touches nothing after this returns
}

// ---- PoolWrap -------------------------------------------------------------

Napi::Function PoolWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativePool",
                     {
                         InstanceMethod<&PoolWrap::RegisterTarget>("registerTarget"),
                         InstanceMethod<&PoolWrap::ClearTargets>("clearTargets"),
                         InstanceMethod<&PoolWrap::Arena>("arena"),
                         InstanceMethod<&PoolWrap::HeaderShape>("headerShape"),
                         InstanceMethod<&PoolWrap::CallHandle>("callHandle"),
                         InstanceMethod<&PoolWrap::Abort>("abort"),
                         InstanceMethod<&PoolWrap::Warmup>("warmup"),
                         InstanceMethod<&PoolWrap::Close>("close"),
                         InstanceMethod<&PoolWrap::Destroy>("destroy"),
                         InstanceMethod<&PoolWrap::GetMetrics>("getMetrics"),
                         InstanceMethod<&PoolWrap::SetEventsEnabled>("setEventsEnabled"),
                         InstanceMethod<&PoolWrap::SweepNow>("sweepNow"),
                         InstanceMethod<&PoolWrap::CorruptForTest>("corruptForTest"),
                         InstanceMethod<&PoolWrap::CreateBalancer>("createBalancer"),
                         InstanceMethod<&PoolWrap::BalancerAdd>("balancerAdd"),
                         InstanceMethod<&PoolWrap::BalancerRemove>("balancerRemove"),
                         InstanceMethod<&PoolWrap::BalancerStats>("balancerStats"),
                         InstanceMethod<&PoolWrap::BalancerClose>("balancerClose"),
                         InstanceMethod<&PoolWrap::ExecuteBalanced>("executeBalanced"),
                     });
}

// new NativePool(options, emit, onBatch)
PoolWrap::PoolWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PoolWrap>(info) {
  Napi::Env env = info.Env();
  cpc::Config config;
  std::string err;
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsFunction() || !info[2].IsFunction()) {
    Napi::TypeError::New(env, "NativePool(options, emit, onBatch)").ThrowAsJavaScriptException();
    return;
  }
  cpc::TlsOptions tls;
  if (!read_options(info[0].As<Napi::Object>(), &config, &err) ||
      !read_tls_options(info[0].As<Napi::Object>().Get("tls"), &tls, &err)) {
    Napi::Value e = make_pool_error(env, "ERR_POOL_CONFIG", err, Napi::Object());
    if (!env.IsExceptionPending()) napi_throw(env, e);
    return;
  }
  bridge_ = new PoolBridge(env, config, std::move(tls), info[1].As<Napi::Function>(),
                           info[2].As<Napi::Function>());
  bridge_->wrap_ = this;
  handle_ = new WrapHandle{this, 1};
}

PoolWrap::~PoolWrap() {
  if (handle_) {
    handle_->wrap = nullptr;
    if (--handle_->owners == 0) delete handle_;
  }
  if (bridge_) bridge_->detach();  // the bridge frees itself once closed
}

// callHandle() -> External of this pool's WrapHandle (see pool_wrap.h).
Napi::Value PoolWrap::CallHandle(const Napi::CallbackInfo& info) {
  if (!handle_) return info.Env().Undefined();
  handle_->owners++;
  return Napi::External<WrapHandle>::New(info.Env(), handle_, [](Napi::Env, WrapHandle* h) {
    if (--h->owners == 0) delete h;
  });
}

Napi::Value PoolWrap::ExecuteByHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) return Napi::Number::New(env, -1);
  WrapHandle* h = info[0].As<Napi::External<WrapHandle>>().Data();
  // The wrap's JS object may be collected before its finalizer runs (and
  // clears h->wrap): such a wrap takes no new work either.
  if (!h || !h->wrap || h->wrap->Value().IsEmpty()) return Napi::Number::New(env, -1);
  return h->wrap->Execute(info);
}

// registerTarget(origin, host, port, https, path, hostHeader) -> id
Napi::Value PoolWrap::RegisterTarget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_env e = env;
  Target t;
  read_utf8(e, info[0], &t.origin);
  read_utf8(e, info[1], &t.host);
  t.port = static_cast<uint16_t>(info[2].As<Napi::Number>().Uint32Value());
  t.https = info[3].ToBoolean().Value();
  read_utf8(e, info[4], &t.path);
  read_utf8(e, info[5], &t.host_header);
  targets_.push_back(std::move(t));
  return Napi::Number::New(env, static_cast<double>(targets_.size() - 1));
}

// clearTargets(): forgets every registered target (lib/ clears its cache with it).
// Safe at any time: execute() copies what it needs from a target.
Napi::Value PoolWrap::ClearTargets(const Napi::CallbackInfo& info) {
  targets_.clear();
  if (targets_.capacity() > 1024) std::vector<Target>().swap(targets_);
  return info.Env().Undefined();
}

// arena() -> [meta ArrayBuffer, bytes ArrayBuffer]: the ResultBatch memory.
Napi::Value PoolWrap::Arena(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  if (bridge_) {
    out.Set(0u, bridge_->batch_.meta_buffer());
    out.Set(1u, bridge_->batch_.bytes_buffer());
  }
  return out;
}

// headerShape(id) -> "name\0name..." of a header shape the batch used, or
// undefined (header_shapes.h). JS asks once per shape and keeps the answer.
Napi::Value PoolWrap::HeaderShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string names;
  if (!bridge_ || !info[0].IsNumber() ||
      !bridge_->batch_.shapes().names(info[0].As<Napi::Number>().Int32Value(), &names)) {
    return env.Undefined();
  }
  return Napi::String::New(env, names);
}

// binding.execute(handle, targetId, method|undefined, headers[]|undefined, body,
// timeout) -> request handle, or (handle, targetId) for a plain GET. The
// result arrives through onBatch; a closed pool's handle settles too.
Napi::Value PoolWrap::Execute(const Napi::CallbackInfo& info) {
  constexpr size_t first = 1;  // info[0] is the WrapHandle
  Napi::Env env = info.Env();
  napi_env e = env;
  if (!bridge_) return Napi::Number::New(env, -1);
  const uint32_t id = info[first].As<Napi::Number>().Uint32Value();
  if (id >= targets_.size()) return Napi::Number::New(env, -1);
  const Target& t = targets_[id];
  cpc::ExecuteArgs args;
  // Only the target (lib's plain GET): no argument left to check.
  const bool plain_get = info.Length() == first + 1;
  if (!plain_get && info[first + 1].IsString()) {
    read_utf8(e, info[first + 1], &method_);
    args.method = method_;
  } else {
    args.method = "GET";
  }

  if (plain_get) {
    header_pairs_.clear();
  } else {
    read_headers_and_body(info, first + 2, first + 3, &args.body, &args.body_length);
  }
  args.origin_key = t.origin;
  args.host = t.host;
  args.port = t.port;
  args.https = t.https;
  args.target = t.path;
  args.host_header = t.host_header;
  args.headers = header_pairs_.data();
  args.header_count = header_pairs_.size();
  args.timeout_ms = !plain_get && info[first + 4].IsNumber()
                        ? info[first + 4].As<Napi::Number>().Int64Value()
                        : -1;

  uint64_t handle = 0;
  bridge_->on_work_started();
  bridge_->pool().execute(args, &handle);  // settles later, through onBatch
  return Napi::Number::New(env, static_cast<double>(handle));
}

void PoolWrap::read_headers_and_body(const Napi::CallbackInfo& info, size_t headers_at,
                                     size_t body_at, const char** body_out, size_t* body_length) {
  napi_env e = info.Env();
  header_pairs_.clear();
  if (info[headers_at].IsArray()) {
    Napi::Array arr = info[headers_at].As<Napi::Array>();
    const uint32_t n = arr.Length();
    if (header_strings_.size() < n) header_strings_.resize(n);
    for (uint32_t i = 0; i < n; i++) {
      read_utf8(e, arr.Get(i), &header_strings_[i]);  // lib/ passes strings only
    }
    for (uint32_t i = 0; i + 1 < n; i += 2) {
      header_pairs_.push_back(cpc::HeaderPair{header_strings_[i], header_strings_[i + 1]});
    }
  }
  Napi::Value body = info[body_at];
  *body_out = nullptr;
  *body_length = 0;
  if (body.IsTypedArray()) {
    Napi::TypedArray ta = body.As<Napi::TypedArray>();
    *body_out = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    *body_length = ta.ByteLength();
  } else if (body.IsString()) {
    read_utf8(e, body, &body_text_);
    *body_out = body_text_.data();
    *body_length = body_text_.size();
  }
}

// createBalancer(config) -> id. config: { strategy, probe: {intervalMs, timeoutMs,
// method, path, headers[], body} | undefined, thresholds..., breaker..., retry... }
Napi::Value PoolWrap::CreateBalancer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!bridge_) return Napi::Number::New(env, -1);
  Napi::Object o = info[0].As<Napi::Object>();
  cpc::BalancerConfig c;
  auto num = [&](const char* name, double fallback) {
    Napi::Value v = o.Get(name);
    return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
  };
  auto str = [&](const char* name, const std::string& fallback) {
    Napi::Value v = o.Get(name);
    return v.IsString() ? v.As<Napi::String>().Utf8Value() : fallback;
  };
  std::string strategy = str("strategy", "round-robin");
  c.strategy = strategy == "least-pending"   ? cpc::Strategy::kLeastPending
               : strategy == "least-latency" ? cpc::Strategy::kLeastLatency
                                             : cpc::Strategy::kRoundRobin;
  c.probe_interval_ms = static_cast<uint64_t>(num("probeIntervalMs", 0));
  c.probe_timeout_ms = static_cast<uint64_t>(num("probeTimeoutMs", 2000));
  c.probe_method = str("probeMethod", "GET");
  c.probe_path = str("probePath", "/");
  c.probe_body = str("probeBody", "");
  Napi::Value ph = o.Get("probeHeaders");
  if (ph.IsArray()) {
    Napi::Array arr = ph.As<Napi::Array>();
    for (uint32_t i = 0; i + 1 < arr.Length(); i += 2) {
      c.probe_headers.emplace_back(arr.Get(i).ToString().Utf8Value(), arr.Get(i + 1).ToString().Utf8Value());
    }
  }
  c.healthy_below_ms = num("healthyMs", 50);
  c.degraded_below_ms = num("degradedMs", 200);
  c.unhealthy_after_failures = static_cast<uint32_t>(num("unhealthyFailures", 3));
  c.dead_after_failures = static_cast<uint32_t>(num("deadFailures", 5));
  c.breaker_failures = static_cast<uint32_t>(num("breakerFailures", 5));
  c.breaker_cooldown_ms = static_cast<uint64_t>(num("breakerCooldownMs", 10000));
  c.attempts = static_cast<uint32_t>(num("attempts", 3));
  c.base_delay_ms = static_cast<uint64_t>(num("baseDelayMs", 50));
  c.max_delay_ms = static_cast<uint64_t>(num("maxDelayMs", 2000));
  c.budget_percent = num("budgetPercent", 20);
  cpc::Pool::Entry entry(bridge_->pool(), cpc::Pool::From::kCall);
  return Napi::Number::New(env, bridge_->pool().create_balancer(std::move(c)));
}

// balancerAdd(id, origin, host, port, https, hostHeader)
Napi::Value PoolWrap::BalancerAdd(const Napi::CallbackInfo& info) {
  cpc::Balancer* b = bridge_ ? bridge_->pool().balancer(info[0].As<Napi::Number>().Uint32Value()) : nullptr;
  if (b) {
    cpc::EndpointSpec spec;
    spec.origin = info[1].As<Napi::String>().Utf8Value();
    spec.host = info[2].As<Napi::String>().Utf8Value();
    spec.port = static_cast<uint16_t>(info[3].As<Napi::Number>().Uint32Value());
    spec.https = info[4].ToBoolean().Value();
    spec.host_header = info[5].As<Napi::String>().Utf8Value();
    cpc::Pool::Entry entry(bridge_->pool(), cpc::Pool::From::kCall);
    b->add_endpoint(spec);
  }
  return info.Env().Undefined();
}

// balancerRemove(id, origin) -> boolean
Napi::Value PoolWrap::BalancerRemove(const Napi::CallbackInfo& info) {
  cpc::Balancer* b = bridge_ ? bridge_->pool().balancer(info[0].As<Napi::Number>().Uint32Value()) : nullptr;
  bool removed = false;
  if (b) {
    cpc::Pool::Entry entry(bridge_->pool(), cpc::Pool::From::kCall);
    removed = b->remove_endpoint(info[1].As<Napi::String>().Utf8Value());
  }
  return Napi::Boolean::New(info.Env(), removed);
}

Napi::Value PoolWrap::BalancerStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<cpc::EndpointStats> stats;
  if (cpc::Balancer* b = bridge_ ? bridge_->pool().balancer(info[0].As<Napi::Number>().Uint32Value()) : nullptr) {
    b->stats(&stats);
  }
  Napi::Array out = Napi::Array::New(env, stats.size());
  for (size_t i = 0; i < stats.size(); i++) {
    const cpc::EndpointStats& s = stats[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("origin", s.origin);
    o.Set("health", cpc::health_name(s.health));
    o.Set("breaker", cpc::breaker_name(s.breaker));
    o.Set("ewmaMs", s.ewma_ms);
    o.Set("inflight", static_cast<double>(s.inflight));
    o.Set("requests", static_cast<double>(s.requests));
    o.Set("failures", static_cast<double>(s.failures));
    o.Set("consecutiveFailures", static_cast<double>(s.consecutive_failures));
    o.Set("lastError", s.last_error.ok() ? env.Null() : error_to_js(env, s.last_error, s.origin));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

Napi::Value PoolWrap::BalancerClose(const Napi::CallbackInfo& info) {
  if (cpc::Balancer* b = bridge_ ? bridge_->pool().balancer(info[0].As<Napi::Number>().Uint32Value()) : nullptr) {
    cpc::Pool::Entry entry(bridge_->pool(), cpc::Pool::From::kCall);
    b->close();
  }
  return info.Env().Undefined();
}

// executeBalanced(id, method|undefined, target, headers[]|undefined, body, timeout, idempotent) -> handle
Napi::Value PoolWrap::ExecuteBalanced(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_env e = env;
  if (!bridge_) return Napi::Number::New(env, -1);
  cpc::BalancedArgs args;
  args.balancer = info[0].As<Napi::Number>().Uint32Value();
  if (info[1].IsString()) {
    read_utf8(e, info[1], &method_);
    args.method = method_;
  } else {
    args.method = "GET";
  }
  read_utf8(e, info[2], &host_);  // the target path (scratch reuse)
  args.target = host_;
  read_headers_and_body(info, 3, 4, &args.body, &args.body_length);
  args.headers = header_pairs_.data();
  args.header_count = header_pairs_.size();
  args.timeout_ms = info[5].IsNumber() ? info[5].As<Napi::Number>().Int64Value() : -1;
  args.idempotent = info[6].ToBoolean().Value();
  uint64_t handle = 0;
  bridge_->on_work_started();
  bridge_->pool().execute_balanced(args, &handle);
  return Napi::Number::New(env, static_cast<double>(handle));
}

// abort(handle) -> boolean
Napi::Value PoolWrap::Abort(const Napi::CallbackInfo& info) {
  if (!bridge_) return Napi::Boolean::New(info.Env(), false);
  uint64_t handle = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  bool ok = bridge_->pool().abort(
      handle, cpc::make_error(cpc::ErrorCode::kAborted, "The operation was aborted"));
  return Napi::Boolean::New(info.Env(), ok);
}

// warmup(origin, host, port, https, count) -> Promise<number>
Napi::Value PoolWrap::Warmup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_env e = env;
  if (!bridge_) {
    return rejected(env, make_pool_error(env, "ERR_POOL_CLOSED", "The pool is closed", Napi::Object()));
  }
  read_utf8(e, info[0], &origin_);
  read_utf8(e, info[1], &host_);
  const uint32_t port = info[2].As<Napi::Number>().Uint32Value();
  const bool https = info[3].ToBoolean().Value();
  const double count = info[4].As<Napi::Number>().DoubleValue();
  napi_deferred deferred;
  napi_value promise;
  napi_create_promise(e, &deferred, &promise);
  bridge_->on_work_started();
  bridge_->pool().warmup(origin_, host_, static_cast<uint16_t>(port), https,
                         count > 0 ? static_cast<uint64_t>(count) : 0, deferred);
  return Napi::Value(env, promise);
}

Napi::Value PoolWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_deferred deferred;
  napi_value promise;
  napi_create_promise(env, &deferred, &promise);
  if (!bridge_) {
    napi_resolve_deferred(env, deferred, env.Undefined());
    return Napi::Value(env, promise);
  }
  bridge_->on_work_started();
  bridge_->pool().close(deferred);
  return Napi::Value(env, promise);
}

// destroy(err?)
Napi::Value PoolWrap::Destroy(const Napi::CallbackInfo& info) {
  if (bridge_) bridge_->destroy(info.Length() > 0 && info[0].IsObject() ? info[0] : Napi::Value());
  return info.Env().Undefined();
}

Napi::Value PoolWrap::GetMetrics(const Napi::CallbackInfo& info) {
  cpc::MetricsSnapshot snapshot;
  if (bridge_) bridge_->pool().metrics(&snapshot);
  return metrics_to_js(info.Env(), snapshot);
}

Napi::Value PoolWrap::SetEventsEnabled(const Napi::CallbackInfo& info) {
  if (bridge_) bridge_->pool().set_events_enabled(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value PoolWrap::SweepNow(const Napi::CallbackInfo& info) {
  double leaks = bridge_ ? static_cast<double>(bridge_->pool().sweep_now()) : 0;
  return Napi::Number::New(info.Env(), leaks);
}

Napi::Value PoolWrap::CorruptForTest(const Napi::CallbackInfo& info) {
  bool done = bridge_ && bridge_->pool().corrupt_one_for_test();
  return Napi::Boolean::New(info.Env(), done);
}

}  // namespace cpc_addon
