// A vCPU thread of the shootdown_rtt_us benchmark: it stays in guest mode,
// polling for a kick as the run loop does between instruction slices, then
// leaves, services the TLB flush and enters again, until told to stop.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';

v8.setFlagsFromString('--no-liftoff');
const { module, memory, vcpu, control, bindings } = workerData;
const { instantiate } = await import(pathToFileURL(bindings).href);
const x = await instantiate(module, { env: { memory } });
if (x.machine_attach() !== 0) throw new Error('shootdown worker: attach failed');
x.stats_select(1 + vcpu);

// control[0]: workers ready; control[1]: stop.
const ctl = new Int32Array(control);
Atomics.add(ctl, 0, 1);
while (Atomics.load(ctl, 1) === 0) {
  if (x.vcpu_enter_guest_mode(vcpu)) {
    while (!x.vcpu_exit_requested(vcpu) && Atomics.load(ctl, 1) === 0);
    x.vcpu_leave_guest_mode(vcpu);
  }
  x.vcpu_service_requests(vcpu);
}
parentPort.postMessage('stopped');
