// A vCPU thread of the shootdown stress tests: its own instance of the core
// over the shared machine, running the run loop's request protocol around
// guest reads: enter guest mode, read guest pages through the vCPU's TLB and
// EPT in slices, poll for a kick between slices, leave, service requests.
// Every value read must be the current contents of the page it was read from.
import { parentPort, workerData } from 'node:worker_threads';
import v8 from 'node:v8';

v8.setFlagsFromString('--no-liftoff');
const { instantiate } = await import(new URL('../../build/gmemu.js', import.meta.url).href);
const { module, memory, vcpu, control, pages, gpaBase, slice, seed } = workerData;
const x = await instantiate(module, { env: { memory } });
if (x.machine_attach() !== 0) throw new Error('attach failed');
x.stats_select(1 + vcpu);

// control[0]: workers ready; control[1]: stop.
const ctl = new Int32Array(control);
const rec = new DataView(memory.buffer, x.vcpu_ptr(vcpu), x.VCPU_STATE_BYTES.value);
const OK = x.AccessStatus.Ok;
let rng = seed | 1;
let reads = 0;
let faults = 0;
let entries = 0;
let bad = 0;
let firstBad = null;

Atomics.add(ctl, 0, 1);
while (Atomics.load(ctl, 1) === 0) {
  if (!x.vcpu_enter_guest_mode(vcpu)) {
    x.vcpu_service_requests(vcpu);
    continue;
  }
  entries++;
  // The vCPU stays in guest mode, its TLB caching the pages, until a kick.
  do {
    for (let k = 0; k < slice; k++) {
      rng ^= rng << 13; rng ^= rng >>> 17; rng ^= rng << 5;
      const page = (rng >>> 0) % pages;
      const word = (rng >>> 12) & 511;
      const value = x.guest_read64(vcpu, gpaBase + BigInt(page * 4096 + word * 8));
      reads++;
      if (rec.getUint32(x.Vcpu.ResStatus, true) !== OK) {
        // The page is between its zap and its new mapping: KVM would fault it in.
        faults++;
        continue;
      }
      // A live page's words hold 0x5afe, the page's index and its generation.
      if (value >> 48n !== 0x5afen || Number((value >> 32n) & 0xffffn) !== page) {
        bad++;
        firstBad ??= { page, word, value: value.toString(16) };
      }
    }
    // Between instruction slices, as the interpreter's run loop polls.
  } while (!x.vcpu_exit_requested(vcpu) && Atomics.load(ctl, 1) === 0);
  x.vcpu_leave_guest_mode(vcpu);
  x.vcpu_service_requests(vcpu);
}
parentPort.postMessage({ reads, faults, entries, bad, firstBad });
