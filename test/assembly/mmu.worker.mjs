// A vCPU thread of the MMU stress test: its own instance of the (debug) core
// over the shared machine. It reads guest pages through its TLB and the VM's
// EPT in guest mode; an EPT violation is a VM exit, handled "in the kernel"
// by handle_ept_violation outside guest mode, and the read runs again.
// Every value read must be what the VMM wrote into that page (bytes of
// 0x5afe, the page index twice) or still 0 there: a freed frame reads as the
// debug build's poison, another page's frame as another index.
import { parentPort, workerData } from 'node:worker_threads';
import v8 from 'node:v8';

v8.setFlagsFromString('--no-liftoff');
const { module, memory, vcpu, control, pages, seed, slice } = workerData;
const { instantiate } = await import(new URL('../../build/gmemu.debug.js', import.meta.url).href);
const x = await instantiate(module, { env: { memory } });
if (x.machine_attach() !== 0) throw new Error('attach failed');
x.stats_select(1 + vcpu);

const ctl = new Int32Array(control);
const rec = new DataView(memory.buffer, x.vcpu_ptr(vcpu), x.VCPU_STATE_BYTES.value);
const OK = x.AccessStatus.Ok;
const VIOLATION = x.AccessStatus.EptViolation;
const R = x.PageFaultResult;

const expected = (page) => 0x5afen << 48n | BigInt(page) << 16n | BigInt(page);
/** Every byte is 0 or the expected byte: a page being written, or not yet. */
function plausible(value, page) {
  const want = expected(page);
  for (let b = 0n; b < 64n; b += 8n) {
    const got = (value >> b) & 0xffn;
    if (got !== 0n && got !== ((want >> b) & 0xffn)) return false;
  }
  return true;
}

let rng = seed | 1;
const seen = { reads: 0, fixed: 0, spurious: 0, retry: 0, emulate: 0, efault: 0, other: 0, bad: 0, firstBad: null };
Atomics.add(ctl, 0, 1);
while (Atomics.load(ctl, 1) === 0) {
  if (!x.vcpu_enter_guest_mode(vcpu)) {
    x.vcpu_service_requests(vcpu);
    continue;
  }
  let exit = false;
  do {
    for (let k = 0; k < slice && !exit; k++) {
      rng ^= rng << 13; rng ^= rng >>> 17; rng ^= rng << 5;
      const page = (rng >>> 0) % pages;
      const word = (rng >>> 12) & 511;
      const value = x.guest_read64(vcpu, BigInt(page * 4096 + word * 8));
      const status = rec.getUint32(x.Vcpu.ResStatus, true);
      if (status === VIOLATION) { exit = true; break; }
      if (status !== OK) throw new Error(`vCPU ${vcpu}: access status ${status}`);
      seen.reads++;
      if (!plausible(value, page)) {
        seen.bad++;
        seen.firstBad ??= { page, word, value: value.toString(16) };
      }
    }
  } while (!exit && !x.vcpu_exit_requested(vcpu) && Atomics.load(ctl, 1) === 0);
  x.vcpu_leave_guest_mode(vcpu);
  if (exit) {
    const r = x.handle_ept_violation(vcpu);
    if (r === R.Fixed) seen.fixed++;
    else if (r === R.Spurious) seen.spurious++;
    else if (r === R.Retry) seen.retry++;
    else if (r === R.Emulate) seen.emulate++;
    else if (r === -14) seen.efault++;
    else seen.other++;
  }
  x.vcpu_service_requests(vcpu);
}
parentPort.postMessage(seen);
