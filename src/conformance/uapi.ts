// The uAPI case format (kvm-cases.json, kvm-random.json): ioctl and file-op
// sequences judged against what a real KVM returned. They run through the
// KVM uAPI, which is not built yet, so every case is reported as a failure
// that says so: a run that contains them is not green.

import { caseId } from './fields.js';
import type { Fields } from './fields.js';
import { failed } from './result.js';
import type { ItemResult, Json } from './result.js';

export const UAPI_NOT_BUILT = 'not run: uAPI cases need the KVM uAPI: not built yet';

/** Reports every uAPI case as failed, with the case's own expectation. */
export function reportUapiCases(cases: readonly unknown[]): ItemResult[] {
  return cases.map((raw, i) => {
    const c = typeof raw === 'object' && raw !== null ? (raw as Fields) : {};
    const area = typeof c.area === 'string' ? `uapi.${c.area}` : 'uapi';
    return failed(caseId(raw, i), area, (c.expect ?? null) as Json, UAPI_NOT_BUILT);
  });
}
