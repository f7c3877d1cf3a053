// Address kinds, kept apart by the type system.
//
// A guest-virtual address, a guest-physical address, a host-physical address
// and a VMM-process virtual address are all 64-bit numbers, and mixing them up
// is the classic bug of this field. Each gets its own brand, so a Gpa cannot be
// passed where an Hpa belongs without going through a function whose name says
// which direction it translates (gvaToGpa, gpaToHpa, ...).

declare const brand: unique symbol;
type Branded<T, B extends string> = T & { readonly [brand]: B };

/** Guest-virtual (linear) address: what guest code uses. */
export type Gva = Branded<bigint, 'gva'>;
/** Guest-physical address: what the guest's page tables produce. */
export type Gpa = Branded<bigint, 'gpa'>;
/** Host-physical address: an offset into the host RAM of the machine. */
export type Hpa = Branded<bigint, 'hpa'>;
/** Host-virtual address in the VMM process (userspace_addr, mmap results). */
export type Hva = Branded<bigint, 'hva'>;
/** Guest frame number (gpa >> 12) and host page frame number (hpa >> 12). */
export type Gfn = Branded<number, 'gfn'>;
export type Pfn = Branded<number, 'pfn'>;

const MASK64 = (1n << 64n) - 1n;

function u64(x: number | bigint, what: string): bigint {
  if (typeof x === 'number' && !Number.isSafeInteger(x)) throw new RangeError(`${what}: ${x} is not a safe integer`);
  const v = BigInt(x);
  if (v < 0n || v > MASK64) throw new RangeError(`${what}: ${x} is not a 64-bit unsigned value`);
  return v;
}

export const gva = (x: number | bigint): Gva => u64(x, 'gva') as Gva;
export const gpa = (x: number | bigint): Gpa => u64(x, 'gpa') as Gpa;
export const hpa = (x: number | bigint): Hpa => u64(x, 'hpa') as Hpa;
export const hva = (x: number | bigint): Hva => u64(x, 'hva') as Hva;

export const gpaToGfn = (a: Gpa): Gfn => Number(a >> 12n) as Gfn;
export const gfnToGpa = (f: Gfn): Gpa => (BigInt(f) << 12n) as Gpa;
export const hpaToPfn = (a: Hpa): Pfn => Number(a >> 12n) as Pfn;
export const pfnToHpa = (f: Pfn): Hpa => (BigInt(f) << 12n) as Hpa;
