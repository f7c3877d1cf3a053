// The consistency checks must catch what they are for: each test breaks one
// rule behind the uAPI's back (a core call that skips the zap, the flush or
// the bookkeeping the real path does) and expects that rule to be named.

import { describe, expect, it } from 'vitest';
import { HOST_MAXPHYADDR } from '../../src/kvm/profile.js';
import * as K from '../../src/uapi.js';
import { eptGuest } from '../kvm/ept-fixture.js';
import type { EptGuest } from '../kvm/ept-fixture.js';

const RAM = 0x10_0000;
const LONG_MODE = { cr0: K.X86_CR0_PE | K.X86_CR0_PG, cr4: K.X86_CR4_PAE, efer: K.EFER_LME | K.EFER_LMA };

/** A pre-faulted guest whose GVA [0, 2 MiB) maps GPA 0 with one 2 MiB page (tables at 0x1000-0x3000). */
async function guest(): Promise<EptGuest> {
  const g = await eptGuest(RAM, { ramMiB: 16 });
  g.put64(0x1000, 0x2007n); g.put64(0x2000, 0x3007n); g.put64(0x3000, 0x87n);
  g.sregs(LONG_MODE.cr0, 0x1000n, LONG_MODE.cr4, LONG_MODE.efer);
  // The flush a new vCPU owes before its first entry (vcpu_vm_attach), as that entry would do it.
  g.kvm.core.exports.vcpu_service_requests(g.record);
  return g;
}

function checks(g: EptGuest) {
  const x = g.kvm.core.exports;
  const F = x.InspectFault;
  const caps = HOST_MAXPHYADDR | x.EptCap.Page1g | x.EptCap.ExecOnly;
  return {
    F,
    all: () => [x.inspect_free_list(), x.inspect_orphan_frames(), x.inspect_gmem(), x.inspect_ept(g.vmId, BigInt(RAM >> 12), caps), x.inspect_tlb(g.record)],
    ept: () => x.inspect_ept(g.vmId, BigInt(RAM >> 12), caps),
    tlb: () => x.inspect_tlb(g.record),
  };
}

describe('inspect', () => {
  it('finds nothing wrong in a machine the uAPI built, guest accesses and frees included', async () => {
    const g = await guest();
    const x = g.kvm.core.exports;
    const c = checks(g);
    const gmem = g.kvm.ioctl(g.vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000 }) as number;
    g.kvm.fallocate(gmem, K.FALLOC_FL_KEEP_SIZE, 0, 0x4000);
    expect(x.vcpu_access(g.record, 0x5000n, x.AccessKind.Write, 0, 0, false)).toBe(x.AccessStatus.Ok);
    expect(x.tlb_count(g.record)).toBeGreaterThan(0);
    expect(c.all()).toEqual([0, 0, 0, 0, 0]);
    expect(x.phys_free_frames() + x.inspect_used_frames()).toBe(Number(x.ram_bytes() >> 12n));
    g.kvm.fallocate(gmem, K.FALLOC_FL_PUNCH_HOLE | K.FALLOC_FL_KEEP_SIZE, 0x1000, 0x1000);
    g.kvm.munmap(g.mem + 0x5000n, 0x1000);
    expect(c.all()).toEqual([0, 0, 0, 0, 0]);
  });

  it('names a frame whose owner does not exist, a used or unmapped frame on the free list, a guest_memfd page no cache holds', async () => {
    const g = await guest();
    const x = g.kvm.core.exports;
    const c = checks(g);
    const pfn = x.frame_alloc(x.FrameKind.Kernel, 0x1234_5678);
    expect(x.inspect_orphan_frames()).toBe(c.F.OrphanFrame);
    expect(x.inspect_bad_pfn()).toBe(pfn);
    x.frame_put(pfn);
    const gmem = g.kvm.ioctl(g.vm, K.KVM_CREATE_GUEST_MEMFD, { size: 0x4000 }) as number;
    const stray = x.frame_alloc(x.FrameKind.GuestMemfd, x.gmem_owner(0));
    expect(g.kvm.fstat(gmem).st_size).toBe(0x4000);
    expect(x.inspect_gmem()).toBe(c.F.GmemStrayPage);
    x.frame_put(stray);
    expect(x.inspect_gmem()).toBe(c.F.None);
    // A frame on the free list that claims a reference.
    const view = new DataView(g.kvm.core.memory.buffer);
    const top = x.phys_free_frames();
    const free = x.frame_alloc(x.FrameKind.Anon, 1);
    x.frame_put(free);
    expect(x.phys_free_frames()).toBe(top);
    view.setUint32(x.frame_meta_ptr(free) + x.Frame.Refcount, 1, true);
    expect(x.inspect_free_list()).toBe(c.F.FreeListUsedFrame);
    expect(x.inspect_bad_pfn()).toBe(free);
    view.setUint32(x.frame_meta_ptr(free) + x.Frame.Refcount, 0, true);
    expect(x.inspect_free_list()).toBe(c.F.None);
    // A free frame the direct map lost (freed while removed from it). The
    // split this makes takes the top free frame, so the lost one lies below it.
    const lost = x.frame_alloc(x.FrameKind.Anon, 1);
    const top2 = x.frame_alloc(x.FrameKind.Anon, 1);
    x.frame_put(lost);
    x.frame_put(top2);
    expect(x.set_direct_map_invalid_noflush(lost)).toBe(0);
    expect(x.inspect_free_list()).toBe(c.F.FreeFrameNotInDirectMap);
    expect(x.inspect_bad_pfn()).toBe(lost);
    x.set_direct_map_default_noflush(lost);
    expect(x.inspect_free_list()).toBe(c.F.None);
  });

  it('names an EPT leaf left behind by an unmap, a memslot delete or a read-only change that skipped the zap', async () => {
    const g = await guest();
    const x = g.kvm.core.exports;
    const c = checks(g);
    expect(c.ept()).toBe(c.F.None);
    // The VMM's page goes without the mmu notifier: the leaf keeps a freed frame.
    expect(x.vma_unmap(g.mem + 0x7000n, 0x1000n)).toBe(0);
    expect(c.ept()).toBe(c.F.EptLeafFreeFrame);
    expect(x.inspect_bad_gpa()).toBe(0x7000n);
    // Reused by someone else, the frame is in use again, and still not the gfn's.
    const other = x.frame_alloc(x.FrameKind.Kernel, 0);
    expect(c.ept()).toBe(c.F.EptLeafStale);
    x.frame_put(other);
    x.ept_zap(g.root, 0x7000n, 0x1000n);
    expect(c.ept()).toBe(c.F.None);
    // The slot turns read-only in place: the writable leaves are stale.
    const slot = x.memslot_find(g.vmId, 0);
    x.memslot_set(g.vmId, 0, K.KVM_MEM_READONLY, 0n, BigInt(RAM >> 12), x.memslot_userspace_addr(g.vmId, slot), -1, 0n);
    expect(c.ept()).toBe(c.F.EptLeafWritableReadonly);
    // The slot goes: every leaf is one without a slot.
    expect(x.memslot_delete(g.vmId, 0)).toBe(0);
    expect(c.ept()).toBe(c.F.EptLeafWithoutSlot);
    expect(x.inspect_bad_gpa()).toBe(0n);
  });

  it('names a TLB entry whose EPT leaf was zapped without a flush, unless a flush request is pending', async () => {
    const g = await guest();
    const x = g.kvm.core.exports;
    const c = checks(g);
    expect(x.vcpu_access(g.record, 0x5000n, x.AccessKind.Read, 0, 0, false)).toBe(x.AccessStatus.Ok);
    expect(c.tlb()).toBe(c.F.None);
    x.ept_zap(g.root, 0x5000n, 0x1000n);
    expect(c.tlb()).toBe(c.F.TlbEntryStale);
    expect(x.inspect_bad_gpa()).toBe(0x5000n);
    x.kvm_make_request(g.record, x.KVM_REQ_TLB_FLUSH.value);
    expect(c.tlb()).toBe(c.F.None);
    x.vcpu_service_requests(g.record);
    expect(x.tlb_count(g.record)).toBe(0);
    expect(c.tlb()).toBe(c.F.None);
  });
});
