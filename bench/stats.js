'use strict';

// Small statistics helpers for the benchmark: medians across rounds and latency
// percentiles within one run. No dependencies.

function finite(values) {
  return values.filter((v) => typeof v === 'number' && Number.isFinite(v));
}

// Median of the finite numbers in `values` (the mean of the middle two for an even
// count); null when there is none.
function median(values) {
  const v = finite(values).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// Nearest-rank percentile (p in 0..100) of an already sorted numeric array-like.
function percentileSorted(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

// Percentiles of an unsorted Float64Array (or array) of samples; sorts a copy once.
function percentiles(samples, ps) {
  const sorted = Float64Array.from(samples).sort();
  const out = {};
  for (const p of ps) out[`p${p}`] = percentileSorted(sorted, p);
  return out;
}

// Per-round ratio of a client's figure to the reference client's figure of the same
// round, then the median of those ratios: rounds run the clients back to back, so
// pairing them cancels most of the machine's slow drift.
function medianRatio(clientRounds, refRounds, key) {
  const ratios = [];
  const n = Math.min(clientRounds.length, refRounds.length);
  for (let i = 0; i < n; i++) {
    const a = clientRounds[i] && clientRounds[i][key];
    const b = refRounds[i] && refRounds[i][key];
    if (typeof a === 'number' && typeof b === 'number' && b > 0) ratios.push(a / b);
  }
  return median(ratios);
}

// A growable Float64Array for latency samples (ms).
class SampleBuffer {
  constructor(initial = 1 << 16) {
    this.data = new Float64Array(initial);
    this.length = 0;
  }

  push(v) {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }

  values() {
    return this.data.subarray(0, this.length);
  }
}

module.exports = { median, percentiles, percentileSorted, medianRatio, SampleBuffer };
