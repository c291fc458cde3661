'use strict';

// Waiting with deadlines. Tests synchronise on events and conditions, never
// on sleeps: every wait here has a deadline, and every poll loop is bounded in
// both time and number of iterations. A missed deadline rejects with a message
// that says what was awaited, so a hang becomes a readable failure.

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_INTERVAL_MS = 5;

function deadlineError(label, timeoutMs) {
  const err = new Error(`waitFor: ${label} did not happen within ${timeoutMs} ms`);
  err.code = 'ERR_TEST_DEADLINE';
  return err;
}

// waitFor(emitter, event, { timeoutMs, filter, count })
//   Resolves with the first payload (the first argument of the event) that
//   passes `filter`, or with an array of `count` payloads when count > 1.
// waitFor(predicate, { timeoutMs, intervalMs, label })
//   Polls `predicate` until it returns a truthy value and resolves with it.
//   The predicate may be async. At most timeoutMs / intervalMs + 1 polls.
function waitFor(target, eventOrOptions, maybeOptions) {
  if (typeof target === 'function') return waitForCondition(target, eventOrOptions || {});
  return waitForEvent(target, eventOrOptions, maybeOptions || {});
}

function waitForEvent(emitter, event, options) {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const count = options.count ?? 1;
  const filter = options.filter || (() => true);
  const label = options.label || `${count} '${String(event)}' event(s)`;
  return new Promise((resolve, reject) => {
    const seen = [];
    const onEvent = (payload) => {
      let ok;
      try {
        ok = filter(payload);
      } catch (err) {
        finish();
        reject(err);
        return;
      }
      if (!ok) return;
      seen.push(payload);
      if (seen.length >= count) {
        finish();
        resolve(count === 1 ? seen[0] : seen);
      }
    };
    const timer = setTimeout(() => {
      finish();
      const err = deadlineError(label, timeoutMs);
      err.seen = seen;
      reject(err);
    }, timeoutMs);
    function finish() {
      clearTimeout(timer);
      emitter.removeListener(event, onEvent);
    }
    emitter.on(event, onEvent);
  });
}

async function waitForCondition(predicate, options) {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = Math.max(1, options.intervalMs ?? DEFAULT_INTERVAL_MS);
  const label = options.label || 'condition';
  const deadline = Date.now() + timeoutMs;
  const maxPolls = Math.ceil(timeoutMs / intervalMs) + 1;
  for (let poll = 0; poll < maxPolls; poll++) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw deadlineError(label, timeoutMs);
}

// Rejects when `promise` has not settled within timeoutMs; otherwise settles
// like it. The timer is cleared either way, so no handle is left behind.
function withDeadline(promise, timeoutMs, label = 'promise') {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(deadlineError(label, timeoutMs)), timeoutMs);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// Settles `promise` into { status, value | reason } without ever rejecting,
// so a test can start a request, do something else, and look at it later
// without an unhandled rejection in between.
function settle(promise) {
  return promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason) => ({ status: 'rejected', reason }),
  );
}

// Records every payload of the named events: rec.events is an array of
// { event, payload } in emission order; rec.of(name) filters it; rec.stop()
// removes the listeners.
function recordEvents(emitter, names) {
  const events = [];
  const listeners = names.map((event) => {
    const listener = (payload) => events.push({ event, payload });
    emitter.on(event, listener);
    return [event, listener];
  });
  return {
    events,
    of: (event) => events.filter((e) => e.event === event).map((e) => e.payload),
    stop() {
      for (const [event, listener] of listeners) emitter.removeListener(event, listener);
    },
  };
}

module.exports = { waitFor, withDeadline, settle, recordEvents, DEFAULT_TIMEOUT_MS };
