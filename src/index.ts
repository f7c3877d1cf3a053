// gmemu's library entry point.
//
// Today it exposes the Wasm core: create a machine (host RAM, vCPU records,
// direct map) over one shared memory, attach further threads to it, and read
// its counters; and the KVM uAPI on top of it (Kvm.open, ioctl, mmap, ...).

export { Kvm } from './kvm/kvm.js';
export type { KvmOptions } from './kvm/kvm.js';
export type { KvmStats } from './kvm/stats.js';
export type { AccessType, TranslateFault, TranslateOptions, Translation, WalkReference } from './kvm/walk-trace.js';
export { KvmError } from './kvm/error.js';
export type { SignalName } from './kvm/error.js';
export { ERRNO, errnoName } from './kvm/errno.js';
export type { ErrnoName } from './kvm/errno.js';
export { createCore, attachCore, compileCore } from './core/wasm.js';
export type { Core, CoreExports, MachineGeometry } from './core/wasm.js';
export { counterNames, readCounters, statsJson, COUNTER_DOCS, STATS_SCHEMA } from './core/stats.js';
export type { StatsScope } from './core/stats.js';
export { gva, gpa, hpa, hva, gpaToGfn, gfnToGpa, hpaToPfn, pfnToHpa } from './core/addr.js';
export type { Gva, Gpa, Hpa, Hva, Gfn, Pfn } from './core/addr.js';
export { VcpuRecord } from './core/vcpu-record.js';
export type { VcpuResult, WalkRef } from './core/vcpu-record.js';
export { RamView } from './core/ram-view.js';
export { runConformance, runConformanceFiles, defaultCorpusFiles, sharedCorpusDir, DEFAULT_CORPORA } from './conformance/runner.js';
export type { ConformanceSource } from './conformance/runner.js';
export { runPagingCorpus } from './conformance/paging.js';
export { runEptCorpus } from './conformance/ept.js';
export { runTlbScenarios } from './conformance/tlb.js';
export { detectFormat } from './conformance/detect.js';
export { conformanceJson, CONFORMANCE_SCHEMA } from './conformance/result.js';
export type { ConformanceRun, ConformanceJson, ItemResult, FileRun, CaseFormat, Json } from './conformance/result.js';
export { formatConformance } from './conformance/text-report.js';
export { Program, ProgramError, REGISTERS, SYSTEM_REGISTERS, CONDITIONS } from './guest/program.js';
export type { RegName, SysRegName, CondName, Operand, LabelRef, Width } from './guest/program.js';
export { assemble } from './guest/assembler.js';
export { GuestMemory, GuestPageTables, bootState, PTE, PAGE_4K, PAGE_2M, PAGE_1G } from './guest/layout.js';
export type { GuestRegion, MapFlags, VmmAccess } from './guest/layout.js';
export { COST_EVENTS, COST_KEYS, defaultCosts } from './cost/events.js';
export type { CostEvent, CostKey, Costs, Confidence } from './cost/events.js';
export { DEFAULT_HOST } from './cost/host.js';
export type { HostModel } from './cost/host.js';
export { shootdown, setMemoryPresence, setDirectMapNoflush, eptFaultAlloc } from './cost/derived.js';
export { applyCostOverrides, loadCosts, CostOverrideError } from './cost/overrides.js';
export { modelledTime, countsDelta, addCounts } from './cost/model.js';
export type { Counts, Modelled } from './cost/model.js';
export { COUNTER_COSTS, STUDY_COUNTS } from './cost/counters.js';
export { sensitivity } from './cost/sensitivity.js';
export type { Sensitivity, SensitivityInput, FigureSwing } from './cost/sensitivity.js';
export { writeReport } from './report/write.js';
export { studyJson, STUDY_SCHEMA } from './report/study.js';
export type { StudyResult, VariantResult, Verdict } from './report/study.js';
export { formatStudyTerminal } from './report/terminal.js';
export { colorsFor } from './report/colors.js';
export { createProgress } from './report/progress.js';
export type { PlotSpec } from './report/plot.js';
export type { Table } from './report/table.js';
