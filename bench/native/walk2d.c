/*
 * The native baseline of gmemu's benchmark: the same 2D walk (4- or 5-level
 * guest paging over 4-level EPT) and the same translated copy as the Wasm
 * core, over the same host RAM, compiled with `cc -O2`.
 *
 * The harness (bench/native.ts) dumps an image: a header of little-endian
 * u64 fields (ImageField below), then host RAM from HPA 0 at IMAGE_RAM_OFFSET.
 * This program walks the pseudo-random addresses the Wasm kernel walks
 * (xorshift32, same seed), applies the same architectural rules to the
 * entries it finds (present, reserved bits, EPT misconfiguration, rights,
 * A/D), and prints one JSON object with its best timings and checksums, so
 * the harness can check that both walkers produced the same translations.
 *
 * Usage: walk2d IMAGE
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IMAGE_MAGIC 0x4b4c4157554d4d47ULL /* "GMMUWALK" */
#define IMAGE_VERSION 1
#define IMAGE_RAM_OFFSET 4096

enum ImageField {
  F_MAGIC, F_VERSION, F_RAM_BYTES,
  F_CR0, F_CR3, F_CR4, F_EFER, F_PKRU, F_PKRS,
  F_GUEST_MAXPHY, F_GBPAGES, F_EPTP, F_HOST_MAXPHY, F_EPT_EXEC_ONLY, F_EPT_PAGE1G,
  F_WALK_BASE, F_WALK_PAGES, F_WALK_ITERS, F_WALK_SEED, F_WALK_REPS,
  F_COPY_DST, F_COPY_SRC, F_COPY_LEN, F_COPY_REPS,
  F_COUNT
};

#define CR0_WP (1ULL << 16)
#define CR4_LA57 (1ULL << 12)
#define CR4_SMEP (1ULL << 20)
#define CR4_SMAP (1ULL << 21)
#define CR4_PKE (1ULL << 22)
#define CR4_PKS (1ULL << 24)
#define EFER_NX (1ULL << 11)

#define PT_P (1ULL << 0)
#define PT_RW (1ULL << 1)
#define PT_US (1ULL << 2)
#define PT_A (1ULL << 5)
#define PT_D (1ULL << 6)
#define PT_PS (1ULL << 7)
#define PT_XD (1ULL << 63)

#define EPT_R 1ULL
#define EPT_W 2ULL
#define EPT_X 4ULL
#define EPT_PS (1ULL << 7)
#define EPT_A (1ULL << 8)
#define EPT_D (1ULL << 9)
#define EPTP_AD (1ULL << 6)

enum Access { ACC_READ, ACC_WRITE, ACC_FETCH };

/* A failed walk adds this plus its failure kind to the checksum, so a walker
 * that fails where another succeeds cannot go unnoticed. The kinds have the
 * values of the core's AccessStatus (assembly/layout.ts). */
#define WALK_FAILED 0xfa11000000000000ULL
enum Fail { FAIL_PF = 1, FAIL_GP, FAIL_EPT_VIOLATION, FAIL_EPT_MISCONFIG, FAIL_NO_MEMORY };

static uint8_t *ram;
static uint64_t hdr[F_COUNT];

/* Control state, decoded once from the header. */
static uint64_t ram_bytes, guest_addr_mask, guest_rsvd_high, ept_addr_mask, ept_rsvd_high;
static int guest_levels, nxe, wp, smep, smap, pke, pks, gbpages, ept_ad, ept_exec_only, ept_page1g;

static inline uint64_t mask_bits(int hi, int lo) {
  return (hi < lo) ? 0 : ((~0ULL >> (63 - hi)) & ~((1ULL << lo) - 1));
}

static inline uint64_t load64(uint64_t hpa) {
  uint64_t v;
  memcpy(&v, ram + hpa, 8);
  return v;
}

/* A/D are set the way the processor sets them: a locked OR on the word. */
static inline void set_bits(uint64_t hpa, uint64_t set) {
  __atomic_fetch_or((uint64_t *)(void *)(ram + hpa), set, __ATOMIC_SEQ_CST);
}

static int ept_misconfigured(int level, uint64_t e) {
  uint64_t xwr = e & 7;
  int leaf = level == 1 || ((level == 2 || level == 3) && (e & EPT_PS));
  uint64_t memtype = (e >> 3) & 7;
  if ((xwr & EPT_W) && !(xwr & EPT_R)) return 1;
  if (xwr == EPT_X && !ept_exec_only) return 1;
  if (e & ept_rsvd_high) return 1;
  if (level == 4) return (e & mask_bits(7, 3)) != 0;
  if (!leaf) return (e & mask_bits(6, 3)) != 0;
  if (memtype == 2 || memtype == 3 || memtype == 7) return 1;
  if (level == 3) return !ept_page1g || (e & mask_bits(29, 12)) != 0;
  if (level == 2) return (e & mask_bits(20, 12)) != 0;
  return 0;
}

/*
 * GPA -> HPA through the 4-level EPT. `needs` is the EPT right the access
 * requires; `dirty` sets D in the leaf when EPT A/D is on. Returns 0 or a Fail.
 */
static int ept_translate(uint64_t gpa, uint64_t needs, int dirty, uint64_t *hpa, uint64_t *rights_out) {
  uint64_t used[4];
  int n = 0;
  uint64_t table = hdr[F_EPTP] & ept_addr_mask;
  uint64_t rights = EPT_R | EPT_W | EPT_X;
  for (int level = 4; level >= 1; level--) {
    int shift = 12 + 9 * (level - 1);
    uint64_t addr = table + ((gpa >> shift) & 511) * 8;
    if (addr + 8 > ram_bytes) return FAIL_NO_MEMORY;
    uint64_t e = load64(addr);
    rights &= e & 7;
    if ((e & 7) == 0) return FAIL_EPT_VIOLATION;
    if (ept_misconfigured(level, e)) return FAIL_EPT_MISCONFIG;
    used[n++] = addr;
    if (!(level == 1 || ((level == 2 || level == 3) && (e & EPT_PS)))) {
      table = e & ept_addr_mask;
      continue;
    }
    if ((rights & needs) == 0) return FAIL_EPT_VIOLATION;
    uint64_t page_mask = (1ULL << shift) - 1;
    *hpa = (e & ept_addr_mask & ~page_mask) | (gpa & page_mask);
    *rights_out = rights;
    if (ept_ad) {
      for (int i = 0; i < n; i++) {
        uint64_t set = (i == n - 1 && dirty) ? (EPT_A | EPT_D) : EPT_A;
        if ((load64(used[i]) & set) != set) set_bits(used[i], set);
      }
    }
    return 0;
  }
  return FAIL_EPT_VIOLATION;
}

static uint64_t guest_rsvd(int level, uint64_t e) {
  uint64_t r = guest_rsvd_high;
  if (!nxe) r |= PT_XD;
  if (level >= 4) r |= PT_PS;
  else if (level == 3 && (e & PT_PS)) r |= mask_bits(29, 13) | (gbpages ? 0 : PT_PS);
  else if (level == 2 && (e & PT_PS)) r |= mask_bits(20, 13);
  return r;
}

/* Page rights and protection keys for an explicit access with EFLAGS.AC=0. */
static int rights_deny(enum Access kind, int cpl, int writable, int user, int xd, unsigned key) {
  int write = kind == ACC_WRITE, fetch = kind == ACC_FETCH;
  int deny;
  if (cpl == 3) {
    deny = !user || (write && !writable) || (fetch && xd);
  } else {
    deny = (write && !writable && wp) || (fetch && xd) || (fetch && user && smep) || (!fetch && user && smap);
  }
  if (!fetch && ((user && pke) || (!user && pks))) {
    uint32_t reg = (uint32_t)hdr[user ? F_PKRU : F_PKRS];
    int ad = (reg >> (2 * key)) & 1, wd = (reg >> (2 * key + 1)) & 1;
    if (ad || (write && wd && (cpl == 3 || wp))) deny = 1;
  }
  return deny;
}

/*
 * One access's guest walk through EPT, as the Wasm walker makes it: each
 * guest entry's GPA through EPT (a paging-structure access: an EPT write
 * when EPT A/D is on), then the entry's checks, the rights, the data GPA,
 * and the guest A/D updates. Returns 0 and the HPA, or a Fail.
 */
static int walk(uint64_t la, enum Access kind, int cpl, uint64_t *hpa_out) {
  int width = guest_levels == 5 ? 57 : 48;
  int64_t top = (int64_t)la >> (width - 1);
  if (top != 0 && top != -1) return FAIL_GP;
  uint64_t used_hpa[5], used_rights[5];
  int used_level[5], n = 0;
  uint64_t table = hdr[F_CR3] & guest_addr_mask;
  int writable = 1, user = 1, xd = 0;
  uint64_t table_needs = ept_ad ? EPT_W : EPT_R;
  for (int level = guest_levels; level >= 1; level--) {
    int shift = 12 + 9 * (level - 1);
    uint64_t entry_gpa = table + ((la >> shift) & 511) * 8;
    uint64_t entry_hpa, rights;
    int r = ept_translate(entry_gpa, table_needs, ept_ad, &entry_hpa, &rights);
    if (r) return r;
    uint64_t e = load64(entry_hpa);
    if (!(e & PT_P)) return FAIL_PF;
    if (e & guest_rsvd(level, e)) return FAIL_PF;
    used_hpa[n] = entry_hpa;
    used_rights[n] = rights;
    used_level[n++] = level;
    writable &= (e & PT_RW) != 0;
    user &= (e & PT_US) != 0;
    xd |= nxe && (e & PT_XD);
    if (!(level == 1 || (level <= 3 && (e & PT_PS)))) {
      table = e & guest_addr_mask;
      continue;
    }
    if (rights_deny(kind, cpl, writable, user, xd, (unsigned)((e >> 59) & 15))) return FAIL_PF;
    uint64_t page_mask = (1ULL << shift) - 1;
    uint64_t gpa = (e & guest_addr_mask & ~page_mask) | (la & page_mask);
    uint64_t needs = kind == ACC_WRITE ? EPT_W : kind == ACC_FETCH ? EPT_X : EPT_R;
    uint64_t data_rights;
    r = ept_translate(gpa, needs, kind == ACC_WRITE, hpa_out, &data_rights);
    if (r) return r;
    for (int i = 0; i < n; i++) {
      uint64_t set = (used_level[i] == level && kind == ACC_WRITE) ? (PT_A | PT_D) : PT_A;
      if ((load64(used_hpa[i]) & set) == set) continue;
      if (!ept_ad && !(used_rights[i] & EPT_W)) return FAIL_EPT_VIOLATION;
      set_bits(used_hpa[i], set);
    }
    return 0;
  }
  return FAIL_PF;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The address stream of the Wasm kernel: xorshift32 picks a page of the range. */
static uint64_t walk_pass(uint64_t iters) {
  uint32_t x = (uint32_t)hdr[F_WALK_SEED];
  uint64_t sum = 0;
  for (uint64_t i = 0; i < iters; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    uint64_t la = hdr[F_WALK_BASE] + ((uint64_t)(x % (uint32_t)hdr[F_WALK_PAGES]) << 12);
    uint64_t hpa;
    int r = walk(la, ACC_READ, 0, &hpa);
    sum += r ? WALK_FAILED + (uint64_t)r : hpa;
  }
  return sum;
}

/* Translate each page of both ranges, then copy the bytes that page pair covers. */
static int copy_pass(uint64_t dst, uint64_t src, uint64_t len) {
  uint64_t done = 0;
  while (done < len) {
    uint64_t s = src + done, d = dst + done;
    uint64_t chunk = 4096 - (s & 4095);
    if (4096 - (d & 4095) < chunk) chunk = 4096 - (d & 4095);
    if (len - done < chunk) chunk = len - done;
    uint64_t hs, hd;
    if (walk(s, ACC_READ, 0, &hs) || walk(d, ACC_WRITE, 0, &hd)) return -1;
    memcpy(ram + hd, ram + hs, chunk);
    done += chunk;
  }
  return 0;
}

/* Whether every destination byte now equals its source byte. */
static int copy_verified(uint64_t dst, uint64_t src, uint64_t len) {
  for (uint64_t off = 0; off < len; off += 4096) {
    uint64_t hs, hd;
    uint64_t n = len - off < 4096 ? len - off : 4096;
    if (walk(src + off, ACC_READ, 0, &hs) || walk(dst + off, ACC_READ, 0, &hd)) return 0;
    if (memcmp(ram + hs, ram + hd, n) != 0) return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: walk2d IMAGE\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  if (fread(hdr, 8, F_COUNT, f) != F_COUNT || hdr[F_MAGIC] != IMAGE_MAGIC || hdr[F_VERSION] != IMAGE_VERSION) {
    fprintf(stderr, "walk2d: %s is not a version %d gmemu walk image\n", argv[1], IMAGE_VERSION);
    return 1;
  }
  ram_bytes = hdr[F_RAM_BYTES];
  ram = aligned_alloc(4096, ram_bytes);
  if (!ram || fseek(f, IMAGE_RAM_OFFSET, SEEK_SET) != 0 || fread(ram, 1, ram_bytes, f) != ram_bytes) {
    fprintf(stderr, "walk2d: cannot read %llu bytes of RAM from %s\n", (unsigned long long)ram_bytes, argv[1]);
    return 1;
  }
  fclose(f);

  int gmax = (int)hdr[F_GUEST_MAXPHY], hmax = (int)hdr[F_HOST_MAXPHY];
  guest_addr_mask = mask_bits(gmax - 1, 12);
  guest_rsvd_high = mask_bits(51, gmax);
  ept_addr_mask = mask_bits(hmax - 1, 12);
  ept_rsvd_high = mask_bits(51, hmax);
  guest_levels = (hdr[F_CR4] & CR4_LA57) ? 5 : 4;
  nxe = (hdr[F_EFER] & EFER_NX) != 0;
  wp = (hdr[F_CR0] & CR0_WP) != 0;
  smep = (hdr[F_CR4] & CR4_SMEP) != 0;
  smap = (hdr[F_CR4] & CR4_SMAP) != 0;
  pke = (hdr[F_CR4] & CR4_PKE) != 0;
  pks = (hdr[F_CR4] & CR4_PKS) != 0;
  gbpages = hdr[F_GBPAGES] != 0;
  ept_ad = (hdr[F_EPTP] & EPTP_AD) != 0;
  ept_exec_only = hdr[F_EPT_EXEC_ONLY] != 0;
  ept_page1g = hdr[F_EPT_PAGE1G] != 0;

  /* Warm-up pass, then the best of the timed passes. */
  uint64_t checksum = walk_pass(hdr[F_WALK_ITERS]);
  double best_walk = 1e300;
  for (uint64_t rep = 0; rep < hdr[F_WALK_REPS]; rep++) {
    double t0 = now_ns();
    uint64_t sum = walk_pass(hdr[F_WALK_ITERS]);
    double t = now_ns() - t0;
    if (sum != checksum) {
      fprintf(stderr, "walk2d: the walk checksum changed between passes\n");
      return 1;
    }
    if (t < best_walk) best_walk = t;
  }

  uint64_t dst = hdr[F_COPY_DST], src = hdr[F_COPY_SRC], len = hdr[F_COPY_LEN];
  if (copy_pass(dst, src, len) != 0) {
    fprintf(stderr, "walk2d: the copy ranges do not translate\n");
    return 1;
  }
  double best_copy = 1e300;
  for (uint64_t rep = 0; rep < hdr[F_COPY_REPS]; rep++) {
    double t0 = now_ns();
    copy_pass(dst, src, len);
    double t = now_ns() - t0;
    if (t < best_copy) best_copy = t;
  }

  printf("{\"walk2d_ns\": %.3f, \"walk_checksum\": \"%llu\", \"copy64_gbps\": %.4f, \"copy_ok\": %s}\n",
         best_walk / (double)hdr[F_WALK_ITERS], (unsigned long long)checksum,
         (double)len / best_copy, copy_verified(dst, src, len) ? "true" : "false");
  return 0;
}
