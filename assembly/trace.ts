// The walk trace: every memory reference of one walk, recorded on request.
//
// Tracing is off on the hot path (a single global test per reference). The
// translate API, the demo's walk stepper and the tests turn it on for one
// access to see the 2D walk: each guest entry, each EPT entry read to reach
// it, and the A/D updates, in the order the hardware makes them.

import { TRACE_MAX, TRACE_REF_BYTES, TraceKind, TraceRef, Vcpu, vcpu_ptr } from './layout';

/** Address of the tracing vCPU's record, or 0 when tracing is off. */
let g_trace_vcpu: usize = 0;

/** Starts a trace into vCPU `vcpu`'s record; the previous trace is discarded. */
export function trace_begin(vcpu: u32): void {
  g_trace_vcpu = vcpu_ptr(vcpu);
  store<u32>(g_trace_vcpu + Vcpu.TraceCount, 0);
}

export function trace_end(): void {
  g_trace_vcpu = 0;
}

@inline export function tracing(): bool {
  return g_trace_vcpu != 0;
}

/** Appends one reference; references past TRACE_MAX are counted but dropped. */
export function trace_ref(kind: TraceKind, level: u32, addr: u64, value: u64, newValue: u64): void {
  const base = g_trace_vcpu;
  if (base == 0) return;
  const n = load<u32>(base + Vcpu.TraceCount);
  store<u32>(base + Vcpu.TraceCount, n + 1);
  if (n >= TRACE_MAX) return;
  const r = base + Vcpu.Trace + <usize>n * TRACE_REF_BYTES;
  store<u32>(r + TraceRef.Kind, <u32>kind);
  store<u32>(r + TraceRef.Level, level);
  store<u64>(r + TraceRef.Addr, addr);
  store<u64>(r + TraceRef.Value, value);
  store<u64>(r + TraceRef.NewValue, newValue);
}
