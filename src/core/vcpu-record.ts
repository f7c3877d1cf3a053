// Reading one vCPU's record in shared memory: the results of its last access
// or walk (the Vcpu.Res* fields) and the trace of its last traced walk.
//
// The core writes these fields instead of returning structures (its hot path
// allocates nothing), so every host-side consumer (the conformance runner,
// the tests, the uAPI) reads them here, through the offsets the core exports.

import type { Core } from './wasm.js';

/** The outcome of the vCPU's last access or walk. */
export interface VcpuResult {
  /** AccessStatus. */
  status: number;
  /** #PF or #GP error code. */
  err: number;
  /** CR2 written by a #PF. */
  cr2: bigint;
  gpa: bigint;
  hpa: bigint;
  /** log2 of the translation's page size. */
  pageShift: number;
  /** Level where a failed walk stopped (0: the walk completed). */
  level: number;
  /** EPT-violation exit qualification. */
  eptQual: bigint;
  /** Guest-physical address of an EPT violation or misconfiguration. */
  eptGpa: bigint;
}

/** One memory reference of a traced walk. */
export interface WalkRef {
  /** TraceKind: guest entry, EPT entry, or an A/D update of either. */
  kind: number;
  /** Paging level of the entry (5..1 guest, 4..1 EPT). */
  level: number;
  /** Guest-physical (guest entries) or host-physical (EPT entries) address. */
  addr: bigint;
  /** The value read, or the old value of an A/D update. */
  value: bigint;
  /** The new value of an A/D update. */
  newValue: bigint;
}

/** One vCPU's record, read through the core's layout enums. */
export class VcpuRecord {
  // A machine's memory never grows (createCore sets maximum = initial), so
  // one view over its buffer stays valid for the machine's life.
  private readonly view: DataView;
  private readonly base: number;

  constructor(private readonly core: Core, readonly vcpu: number) {
    this.view = new DataView(core.memory.buffer);
    this.base = core.exports.vcpu_ptr(vcpu);
  }

  result(): VcpuResult {
    const d = this.view;
    const v = this.base;
    const V = this.core.exports.Vcpu;
    return {
      status: d.getUint32(v + V.ResStatus, true),
      err: d.getUint32(v + V.ResErr, true),
      cr2: d.getBigUint64(v + V.ResCr2, true),
      gpa: d.getBigUint64(v + V.ResGpa, true),
      hpa: d.getBigUint64(v + V.ResHpa, true),
      pageShift: d.getUint32(v + V.ResPageShift, true),
      level: d.getUint32(v + V.ResLevel, true),
      eptQual: d.getBigUint64(v + V.ResEptQual, true),
      eptGpa: d.getBigUint64(v + V.ResEptGpa, true),
    };
  }

  /** References the last traced walk made (the core counts past TRACE_MAX but keeps only TRACE_MAX). */
  traceCount(): number {
    return this.view.getUint32(this.base + this.core.exports.Vcpu.TraceCount, true);
  }

  /** The references of the last traced walk that were kept, in the order the walk made them. */
  trace(): WalkRef[] {
    const x = this.core.exports;
    const d = this.view;
    const n = Math.min(this.traceCount(), x.TRACE_MAX.value);
    const refs: WalkRef[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.base + x.Vcpu.Trace + i * x.TRACE_REF_BYTES.value;
      refs.push({
        kind: d.getUint32(r + x.TraceRef.Kind, true),
        level: d.getUint32(r + x.TraceRef.Level, true),
        addr: d.getBigUint64(r + x.TraceRef.Addr, true),
        value: d.getBigUint64(r + x.TraceRef.Value, true),
        newValue: d.getBigUint64(r + x.TraceRef.NewValue, true),
      });
    }
    return refs;
  }
}
