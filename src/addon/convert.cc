#include "addon/convert.h"

#include <cmath>
#include <cstring>
#include <string_view>
#include <vector>

#include "addon/instance.h"

namespace cpc_addon {
namespace {

double ms(uint64_t from_ns, uint64_t to_ns) {
  return (from_ns && to_ns > from_ns) ? static_cast<double>(to_ns - from_ns) / 1e6 : 0.0;
}

// Node's IncomingMessage rules: these keep only their first value.
bool keeps_first_only(std::string_view n) {
  static const char* const kNames[] = {
      "content-type", "content-length", "user-agent", "referer", "host", "authorization",
      "proxy-authorization", "if-modified-since", "if-unmodified-since", "from", "location",
      "max-forwards", "retry-after", "etag", "last-modified", "server", "age", "expires"};
  for (const char* k : kNames) {
    if (n == k) return true;
  }
  return false;
}

}  // namespace

bool read_options(Napi::Object options, cpc::Config* config, std::string* err) {
  Napi::Env env = options.Env();
  Napi::Array names = options.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); i++) {
    Napi::Value key = names.Get(i);
    if (!key.IsString()) continue;
    std::string name = key.As<Napi::String>().Utf8Value();
    cpc::SettingKind kind;
    if (!cpc::option_kind(name, &kind)) continue;  // unknown options are ignored
    Napi::Value v = options.Get(key);
    if (v.IsUndefined()) continue;
    cpc::Setting s;
    s.option = nullptr;
    s.kind = kind;
    bool type_ok = false;
    switch (kind) {
      case cpc::SettingKind::kBool:
        if (v.IsBoolean()) {
          s.boolean = v.As<Napi::Boolean>().Value();
          type_ok = true;
        }
        break;
      case cpc::SettingKind::kCount:
        if (v.IsNumber()) {
          s.number = v.As<Napi::Number>().DoubleValue();
          type_ok = true;
        }
        break;
      case cpc::SettingKind::kScheduling:
        if (v.IsString()) {
          std::string t = v.As<Napi::String>().Utf8Value();
          if (t == "lifo" || t == "fifo") {
            s.scheduling = t == "lifo" ? cpc::Scheduling::kLifo : cpc::Scheduling::kFifo;
            type_ok = true;
          }
        }
        break;
    }
    if (!type_ok) {
      Napi::String shown = v.ToString();
      std::string text = env.IsExceptionPending() ? "?" : shown.Utf8Value();
      if (v.IsString()) text = "'" + text + "'";
      *err = "Invalid value for option " + name + ": " + text + " (expected " +
             (kind == cpc::SettingKind::kBool
                  ? "a boolean"
                  : kind == cpc::SettingKind::kCount ? "a number" : "'lifo' or 'fifo'") +
             ")";
      return false;
    }
    // set_option looks the field up by name; keep the string alive for it.
    s.option = name.c_str();
    if (!cpc::set_option(*config, s, err)) return false;
  }
  return true;
}

namespace {

// A PEM given as a string or Buffer.
bool read_pem(Napi::Value v, std::string* out) {
  if (v.IsString()) {
    *out = v.As<Napi::String>().Utf8Value();
    return true;
  }
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    out->assign(static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength());
    return true;
  }
  return false;
}

}  // namespace

bool read_tls_options(Napi::Value value, cpc::TlsOptions* tls, std::string* err) {
  if (value.IsUndefined() || value.IsNull()) return true;
  if (!value.IsObject()) {
    *err = "Invalid value for option tls: expected an object";
    return false;
  }
  Napi::Object o = value.As<Napi::Object>();
  Napi::Value ca = o.Get("ca");
  if (!ca.IsUndefined() && !ca.IsNull()) {
    std::vector<Napi::Value> items;
    if (ca.IsArray()) {
      Napi::Array arr = ca.As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); i++) items.push_back(arr.Get(i));
    } else {
      items.push_back(ca);
    }
    for (Napi::Value item : items) {
      std::string pem;
      if (!read_pem(item, &pem)) {
        *err = "Invalid value for option tls.ca: expected a string, Buffer or an array of them";
        return false;
      }
      tls->ca_pems.push_back(std::move(pem));
    }
  }
  for (const char* name : {"cert", "key"}) {
    Napi::Value v = o.Get(name);
    if (v.IsUndefined() || v.IsNull()) continue;
    std::string* out = name[0] == 'c' ? &tls->cert_pem : &tls->key_pem;
    if (!read_pem(v, out)) {
      *err = std::string("Invalid value for option tls.") + name + ": expected a string or Buffer";
      return false;
    }
  }
  if (tls->cert_pem.empty() != tls->key_pem.empty()) {
    *err = "Invalid value for option tls: cert and key must be given together";
    return false;
  }
  Napi::Value reject = o.Get("rejectUnauthorized");
  if (!reject.IsUndefined()) {
    if (!reject.IsBoolean()) {
      *err = "Invalid value for option tls.rejectUnauthorized: expected a boolean";
      return false;
    }
    tls->reject_unauthorized = reject.As<Napi::Boolean>().Value();
  }
  Napi::Value cache = o.Get("sessionCache");
  if (!cache.IsUndefined()) {
    if (!cache.IsBoolean()) {
      *err = "Invalid value for option tls.sessionCache: expected a boolean";
      return false;
    }
    tls->session_cache = cache.As<Napi::Boolean>().Value();
  }
  Napi::Value servername = o.Get("servername");
  if (!servername.IsUndefined()) {
    if (!servername.IsString()) {
      *err = "Invalid value for option tls.servername: expected a string";
      return false;
    }
    tls->servername = servername.As<Napi::String>().Utf8Value();
  }
  Napi::Value min = o.Get("minVersion");
  if (!min.IsUndefined()) {
    std::string v = min.IsString() ? min.As<Napi::String>().Utf8Value() : "";
    if (v == "TLSv1.2") {
      tls->min_version = TLS1_2_VERSION;
    } else if (v == "TLSv1.3") {
      tls->min_version = TLS1_3_VERSION;
    } else if (v == "TLSv1.1" || v == "TLSv1") {
      tls->min_version = v == "TLSv1" ? TLS1_VERSION : TLS1_1_VERSION;
    } else {
      *err = "Invalid value for option tls.minVersion: expected 'TLSv1.2' or 'TLSv1.3'";
      return false;
    }
  }
  return true;
}

Napi::Object settings_to_object(Napi::Env env, const std::vector<cpc::Setting>& settings) {
  Napi::Object out = Napi::Object::New(env);
  for (const cpc::Setting& s : settings) {
    switch (s.kind) {
      case cpc::SettingKind::kBool:
        out.Set(s.option, Napi::Boolean::New(env, s.boolean));
        break;
      case cpc::SettingKind::kCount:
        out.Set(s.option, Napi::Number::New(env, s.number));
        break;
      case cpc::SettingKind::kScheduling:
        out.Set(s.option, Napi::String::New(env, s.scheduling == cpc::Scheduling::kLifo ? "lifo" : "fifo"));
        break;
    }
  }
  return out;
}

Napi::Object response_to_js(Napi::Env env, const cpc::Request& req) {
  const cpc::Response& r = req.response;
  Napi::Object headers = Napi::Object::New(env);
  // Duplicates are rare: remember names already set in a small vector and
  // join in place, so the common case is one property set per header.
  struct Seen {
    std::string_view name;
    std::string value;  // joined value (not for set-cookie)
    bool set_cookie;
  };
  std::vector<Seen> seen;
  seen.reserve(r.headers.size());
  for (const cpc::HeaderSpan& h : r.headers) {
    std::string_view name = r.header_name(h);
    std::string_view value = r.header_value(h);
    Seen* prior = nullptr;
    for (Seen& s : seen) {
      if (s.name == name) {
        prior = &s;
        break;
      }
    }
    if (!prior) {
      seen.push_back(Seen{name, std::string(value), name == "set-cookie"});
      continue;
    }
    if (keeps_first_only(name)) continue;
    prior->value.append(name == "cookie" ? "; " : ", ");
    prior->value.append(value);
  }
  for (const Seen& s : seen) {
    Napi::String key = Napi::String::New(env, s.name.data(), s.name.size());
    if (s.set_cookie) {
      std::vector<std::string_view> values;
      for (const cpc::HeaderSpan& h : r.headers) {
        if (r.header_name(h) == "set-cookie") values.push_back(r.header_value(h));
      }
      Napi::Array arr = Napi::Array::New(env, values.size());
      for (size_t i = 0; i < values.size(); i++) {
        arr.Set(static_cast<uint32_t>(i), Napi::String::New(env, values[i].data(), values[i].size()));
      }
      headers.Set(key, arr);
    } else {
      headers.Set(key, Napi::String::New(env, s.value.data(), s.value.size()));
    }
  }

  Napi::Object timings = Napi::Object::New(env);
  timings.Set("queued", ms(req.start_ns, req.assigned_ns));
  timings.Set("connect", req.connect_ms);
  timings.Set("ttfb", ms(req.start_ns, req.first_byte_ns));
  timings.Set("total", ms(req.start_ns, req.done_ns));

  Napi::Object out = Napi::Object::New(env);
  out.Set("statusCode", static_cast<double>(r.status));
  out.Set("statusMessage", Napi::String::New(env, r.status_message.data(), r.status_message.size()));
  out.Set("headers", headers);
  out.Set("body", Napi::Buffer<char>::Copy(env, r.body.data(), r.body.size()));
  out.Set("reused", req.reused);
  out.Set("timings", timings);
  return out;
}

Napi::Value error_to_js(Napi::Env env, const cpc::Error& err, const std::string& origin) {
  Napi::Object props = Napi::Object::New(env);
  if (!origin.empty()) props.Set("origin", origin);
  if (!err.reason.empty()) props.Set("reason", err.reason);
  if (err.code == cpc::ErrorCode::kSystem) {
    props.Set("errno", static_cast<double>(err.sys));
    props.Set("syscall", err.syscall);
  }
  if (!err.causes.empty()) {
    Napi::Array errors = Napi::Array::New(env, err.causes.size());
    for (size_t i = 0; i < err.causes.size(); i++) {
      errors.Set(static_cast<uint32_t>(i), error_to_js(env, err.causes[i], err.causes[i].origin));
    }
    props.Set("errors", errors);
  }
  std::string code = err.js_code();
  std::string message = err.message;
  if (!origin.empty() && err.code == cpc::ErrorCode::kSystem) message += " " + origin;
  return make_pool_error(env, code.c_str(), message, props);
}

Napi::Object metrics_to_js(Napi::Env env, const cpc::MetricsSnapshot& m) {
  const cpc::Counters& k = m.counters;
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](const char* name, double v) { o.Set(name, Napi::Number::New(env, v)); };
  num("totalRequests", static_cast<double>(k.total_requests));
  num("completedRequests", static_cast<double>(k.completed_requests));
  num("failedRequests", static_cast<double>(k.failed_requests));
  num("pendingRequests", static_cast<double>(m.pending_requests));
  num("totalConnections", static_cast<double>(k.total_connections));
  num("activeConnections", static_cast<double>(m.active_connections));
  num("idleConnections", static_cast<double>(m.idle_connections));
  num("closedConnections", static_cast<double>(k.closed_connections));
  num("failedConnections", static_cast<double>(k.failed_connections));
  num("timedOutConnections", static_cast<double>(k.timed_out_connections));
  num("newConnections", static_cast<double>(k.new_connections));
  num("reusedConnections", static_cast<double>(k.reused_connections));
  num("socketReusePercentage", m.socket_reuse_percentage);
  num("averageConnectionTime", m.average_connection_time);
  num("averageReuseTime", m.average_reuse_time);
  num("socketLeaks", static_cast<double>(k.socket_leaks));
  num("tlsHandshakes", static_cast<double>(k.tls_handshakes));
  num("tlsResumed", static_cast<double>(k.tls_resumed));
  num("bytesSent", static_cast<double>(k.bytes_sent));
  num("bytesReceived", static_cast<double>(k.bytes_received));
  num("nativeMemory", static_cast<double>(m.native_memory));
  Napi::Object origins = Napi::Object::New(env);
  for (const cpc::OriginMetrics& om : m.origins) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("active", static_cast<double>(om.active));
    e.Set("idle", static_cast<double>(om.idle));
    e.Set("pending", static_cast<double>(om.pending));
    e.Set("total", static_cast<double>(om.total));
    origins.Set(om.origin, e);
  }
  o.Set("origins", origins);
  return o;
}

const char* event_name(cpc::EventType type) {
  switch (type) {
    case cpc::EventType::kSocketCreated: return "socket:created";
    case cpc::EventType::kSocketReused: return "socket:reused";
    case cpc::EventType::kSocketClosed: return "socket:closed";
    case cpc::EventType::kSocketError: return "socket:error";
    case cpc::EventType::kLeak: return "leak";
    case cpc::EventType::kEndpointHealth: return "endpoint:health";
    case cpc::EventType::kEndpointBreaker: return "endpoint:breaker";
  }
  return "unknown";
}

Napi::Object event_to_js(Napi::Env env, const cpc::Event& ev) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", static_cast<double>(ev.id));
  o.Set("origin", ev.origin);
  switch (ev.type) {
    case cpc::EventType::kSocketCreated:
      o.Set("connectTime", ev.connect_time_ms);
      break;
    case cpc::EventType::kSocketReused:
      o.Set("uses", static_cast<double>(ev.uses));
      break;
    case cpc::EventType::kSocketClosed:
      o.Set("reason", cpc::close_reason_name(ev.reason));
      break;
    case cpc::EventType::kSocketError:
      o.Set("error", error_to_js(env, ev.error, ev.origin));
      break;
    case cpc::EventType::kLeak:
      o.Set("state", ev.state);
      o.Set("detail", ev.detail);
      break;
    case cpc::EventType::kEndpointHealth:
    case cpc::EventType::kEndpointBreaker:
      o.Delete("id");
      o.Set("balancer", static_cast<double>(ev.balancer));
      o.Set("from", ev.state);
      o.Set("to", ev.detail);
      if (!ev.note.empty()) o.Set("reason", ev.note);
      break;
  }
  return o;
}

}  // namespace cpc_addon
