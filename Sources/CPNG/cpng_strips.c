// cpng_strips.c: the PNG encoder used for display frames. It writes the PNG container itself (signature, IHDR, IDAT,
// IEND) and deflates horizontal strips of rows in parallel with zlib, as pigz does: every strip is its own raw deflate
// stream ended on a byte boundary without a final block (empty blocks or a sync flush), the last one by Z_FINISH,
// so their concatenation behind one zlib header is one valid zlib stream. The Adler-32 of the whole filtered image is combined from per-strip values
// with adler32_combine; each strip's thread computes the CRC-32 of its output, and the strips go into as few IDAT
// chunks as the 2^31-1 chunk limit allows (one, for any screen), their CRCs joined with crc32_combine: a chunk per
// strip would cost 12 bytes per strip.
// Strips share nothing but a counter (atomic) and their own output slot: no locks, no data races.
// At matching levels each strip is seeded with the filtered rows before it (a preset dictionary, as pigz does);
// a strip boundary still costs a new deflate block and a byte-aligning flush (see the end of cpng_encode_strip).
#define _GNU_SOURCE   // sched_getaffinity
#include "CPNG.h"
#include "cpng_internal.h"

#include <png.h>   // PNG_USER_WIDTH_MAX / PNG_USER_HEIGHT_MAX: the same limits as the libpng path and the decoder
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define CPNG_X86_SIMD 1
#endif

enum {
    CPNG_MAX_THREADS = 16,
    CPNG_STRIPS_PER_THREAD = 4,            // more strips than threads: a thread that finishes early takes another
    CPNG_MIN_STRIP_BYTES = 192 << 10,      // below this (filtered bytes) a strip's setup costs more than it saves
    CPNG_BATCH_BYTES = 64 << 10,           // rows are filtered and fed to zlib this many bytes at a time (cache)
    CPNG_PROBE_EVERY = 8,                  // batches stored between tries of the real level on incompressible rows
    CPNG_WINDOW_BYTES = 32 << 10,          // deflate's window: how far back a strip's preset dictionary reaches
    CPNG_FLAT_COST_DIVISOR = 8,            // a batch is "flat" when its filter cost is under 1/8 per byte
};
// A strip's deflate output stays far below 2^31 - 1, the largest IDAT chunk, for any input up to this size.
static const size_t cpng_max_strip_bytes = (size_t)512 << 20;

// The PNG spec's largest chunk length.
#define CPNG_MAX_CHUNK ((size_t)0x7fffffff)

static void cpng_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

// MARK: row filters

/// Bytewise a - b of four packed bytes (no borrow between bytes).
static inline uint32_t cpng_sub4(uint32_t a, uint32_t b) {
    return ((a | 0x80808080u) - (b & 0x7f7f7f7fu)) ^ ((a ^ ~b) & 0x80808080u);
}

/// B,G,R,X (as a little-endian word) to the bytes R,G,B,garbage stored at dst.
static inline void cpng_store_rgb(uint8_t *dst, uint32_t bgrx) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t rgb = __builtin_bswap32(bgrx) >> 8;
    memcpy(dst, &rgb, 4);
#else
    dst[0] = (uint8_t)(bgrx >> 16); dst[1] = (uint8_t)(bgrx >> 8); dst[2] = (uint8_t)bgrx; dst[3] = 0;
#endif
}

static inline uint32_t cpng_load_bgrx(const uint8_t *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

// The fused filters: BGRX straight to filtered RGB. Converting is a byte permutation and the filters NONE, SUB and UP
// are bytewise differences, so they can be taken in BGRX layout before the permutation. Every writer may store up to
// 4 bytes past the row's 3*width (the caller leaves room; the next row overwrites them).

/// Scalar: x0..width.
static void cpng_fused_scalar(const uint8_t *restrict src, const uint8_t *restrict up, uint8_t *restrict dst,
                              uint32_t x0, uint32_t width, int filter) {
    for (uint32_t x = x0; x < width; x++) {
        uint32_t v = cpng_load_bgrx(src + 4 * (size_t)x);
        if (filter == CPNG_FILTER_SUB) {
            v = cpng_sub4(v, x > 0 ? cpng_load_bgrx(src + 4 * (size_t)x - 4) : 0);
        } else if (filter == CPNG_FILTER_UP && up != NULL) {
            v = cpng_sub4(v, cpng_load_bgrx(up + 4 * (size_t)x));
        }
        cpng_store_rgb(dst + 3 * (size_t)x, v);
    }
}

#if CPNG_X86_SIMD
/// SSSE3: four pixels per step, one 16-byte store of which 12 bytes count.
__attribute__((target("ssse3")))
static void cpng_fused_ssse3(const uint8_t *restrict src, const uint8_t *restrict up, uint8_t *restrict dst,
                             uint32_t width, int filter) {
    const __m128i shuffle = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    uint32_t x = 0;
    if (filter == CPNG_FILTER_SUB) {
        // The first pixel has no left neighbour: (pixel - 0).
        __m128i prev = _mm_setzero_si128();
        for (; x + 4 <= width; x += 4) {
            __m128i v = _mm_loadu_si128((const __m128i *)(src + 4 * (size_t)x));
            __m128i left = _mm_alignr_epi8(v, prev, 12);   // the pixels one to the left
            prev = v;
            _mm_storeu_si128((__m128i *)(dst + 3 * (size_t)x), _mm_shuffle_epi8(_mm_sub_epi8(v, left), shuffle));
        }
    } else if (filter == CPNG_FILTER_UP && up != NULL) {
        for (; x + 4 <= width; x += 4) {
            __m128i v = _mm_loadu_si128((const __m128i *)(src + 4 * (size_t)x));
            __m128i u = _mm_loadu_si128((const __m128i *)(up + 4 * (size_t)x));
            _mm_storeu_si128((__m128i *)(dst + 3 * (size_t)x), _mm_shuffle_epi8(_mm_sub_epi8(v, u), shuffle));
        }
    } else {
        for (; x + 4 <= width; x += 4) {
            __m128i v = _mm_loadu_si128((const __m128i *)(src + 4 * (size_t)x));
            _mm_storeu_si128((__m128i *)(dst + 3 * (size_t)x), _mm_shuffle_epi8(v, shuffle));
        }
    }
    cpng_fused_scalar(src, up, dst, x, width, filter);
}
#endif

static int cpng_have_ssse3(void) {
#if CPNG_X86_SIMD
    return __builtin_cpu_supports("ssse3");
#else
    return 0;
#endif
}

/// NONE, SUB or UP of one row (`up`: the row above in BGRX, NULL for the first row) into dst (3*width + 4 bytes).
static void cpng_filter_fused(const uint8_t *src, const uint8_t *up, uint8_t *dst, uint32_t width, int filter,
                              int ssse3) {
#if CPNG_X86_SIMD
    if (ssse3) { cpng_fused_ssse3(src, up, dst, width, filter); return; }
#endif
    (void)ssse3;
    cpng_fused_scalar(src, up, dst, 0, width, filter);
}

/// BGRX -> RGB (dst needs 3*width + 4 bytes).
static void cpng_to_rgb(const uint8_t *src, uint8_t *dst, uint32_t width, int ssse3) {
    cpng_filter_fused(src, NULL, dst, width, CPNG_FILTER_NONE, ssse3);
}

static inline uint8_t cpng_paeth(uint8_t a, uint8_t b, uint8_t c) {
    int p = (int)a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}

/// Any filter on RGB rows (`prior`: the RGB row above, all zero for the first row) into dst (n bytes).
static void cpng_filter_rgb(const uint8_t *restrict cur, const uint8_t *restrict prior, uint8_t *restrict dst,
                            size_t n, int filter) {
    switch (filter) {
    case CPNG_FILTER_NONE:
        memcpy(dst, cur, n);
        break;
    case CPNG_FILTER_SUB:
        for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)(cur[i] - (i >= 3 ? cur[i - 3] : 0));
        break;
    case CPNG_FILTER_UP:
        for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)(cur[i] - prior[i]);
        break;
    case CPNG_FILTER_AVG:
        for (size_t i = 0; i < n; i++) {
            unsigned left = i >= 3 ? cur[i - 3] : 0;
            dst[i] = (uint8_t)(cur[i] - ((left + prior[i]) >> 1));
        }
        break;
    default:   // PAETH
        for (size_t i = 0; i < n; i++) {
            uint8_t a = i >= 3 ? cur[i - 3] : 0, c = i >= 3 ? prior[i - 3] : 0;
            dst[i] = (uint8_t)(cur[i] - cpng_paeth(a, prior[i], c));
        }
        break;
    }
}

/// libpng's heuristic for adaptive filtering: the sum of the filtered bytes as signed magnitudes, smaller is better.
static uint64_t cpng_filter_cost_scalar(const uint8_t *p, size_t n) {
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += p[i] < 128 ? p[i] : 256 - p[i];
    return sum;
}

#if CPNG_X86_SIMD
/// The same sum, 16 bytes a step: a byte's magnitude is min(b, -b) unsigned, summed by PSADBW (SSE2 only).
static uint64_t cpng_filter_cost(const uint8_t *p, size_t n) {
    const __m128i zero = _mm_setzero_si128();
    __m128i acc = zero;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_min_epu8(v, _mm_sub_epi8(zero, v)), zero));
    }
    uint64_t sum = (uint64_t)_mm_cvtsi128_si64(acc) + (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
    return sum + cpng_filter_cost_scalar(p + i, n - i);
}
#else
static uint64_t cpng_filter_cost(const uint8_t *p, size_t n) { return cpng_filter_cost_scalar(p, n); }
#endif

// MARK: Adler-32

#if CPNG_X86_SIMD
/// Adler-32 with SSSE3, 32 bytes a step (the method of Chromium's zlib, adler32_simd.c): s1 sums bytes with PSADBW,
/// s2 weights them 32..1 with PMADDUBSW; both are reduced mod 65521 every 5552 bytes (zlib's NMAX), before the
/// 32-bit lanes can overflow. ~8x zlib 1.2.13's scalar loop here (1.7 ms for a 1080p frame).
__attribute__((target("ssse3")))
static uint32_t cpng_adler32_ssse3(uint32_t adler, const uint8_t *p, size_t len) {
    enum { BASE = 65521, NMAX = 5552, BLOCK = 32 };
    uint32_t s1 = adler & 0xffff, s2 = adler >> 16;
    size_t blocks = len / BLOCK;
    len -= blocks * BLOCK;
    const __m128i tap1 = _mm_setr_epi8(32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17);
    const __m128i tap2 = _mm_setr_epi8(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m128i zero = _mm_setzero_si128(), ones = _mm_set1_epi16(1);
    while (blocks != 0) {
        size_t n = NMAX / BLOCK;
        if (n > blocks) n = blocks;
        blocks -= n;
        __m128i v_ps = _mm_setr_epi32((int)(s1 * (uint32_t)n), 0, 0, 0);   // s1 as it was, added once per block
        __m128i v_s2 = _mm_setr_epi32((int)s2, 0, 0, 0);
        __m128i v_s1 = zero;
        do {
            __m128i b1 = _mm_loadu_si128((const __m128i *)p), b2 = _mm_loadu_si128((const __m128i *)(p + 16));
            v_ps = _mm_add_epi32(v_ps, v_s1);
            v_s1 = _mm_add_epi32(v_s1, _mm_sad_epu8(b1, zero));
            v_s2 = _mm_add_epi32(v_s2, _mm_madd_epi16(_mm_maddubs_epi16(b1, tap1), ones));
            v_s1 = _mm_add_epi32(v_s1, _mm_sad_epu8(b2, zero));
            v_s2 = _mm_add_epi32(v_s2, _mm_madd_epi16(_mm_maddubs_epi16(b2, tap2), ones));
            p += BLOCK;
        } while (--n != 0);
        v_s2 = _mm_add_epi32(v_s2, _mm_slli_epi32(v_ps, 5));
        v_s1 = _mm_add_epi32(v_s1, _mm_shuffle_epi32(v_s1, _MM_SHUFFLE(2, 3, 0, 1)));
        v_s1 = _mm_add_epi32(v_s1, _mm_shuffle_epi32(v_s1, _MM_SHUFFLE(1, 0, 3, 2)));
        s1 += (uint32_t)_mm_cvtsi128_si32(v_s1);
        v_s2 = _mm_add_epi32(v_s2, _mm_shuffle_epi32(v_s2, _MM_SHUFFLE(2, 3, 0, 1)));
        v_s2 = _mm_add_epi32(v_s2, _mm_shuffle_epi32(v_s2, _MM_SHUFFLE(1, 0, 3, 2)));
        s2 = (uint32_t)_mm_cvtsi128_si32(v_s2);
        s1 %= BASE;
        s2 %= BASE;
    }
    for (size_t i = 0; i < len; i++) { s1 += p[i]; s2 += s1; }   // < 32 bytes: no overflow
    return (s1 % BASE) | (s2 % BASE) << 16;
}
#endif

/// Adler-32 of len bytes continuing from `adler` (1 for a new one), as zlib's adler32.
uint32_t cpng_adler32(uint32_t adler, const uint8_t *p, size_t len) {
#if CPNG_X86_SIMD
    if (cpng_have_ssse3()) return cpng_adler32_ssse3(adler, p, len);
#endif
    while (len > 0) {
        uInt n = len > (1u << 30) ? 1u << 30 : (uInt)len;
        adler = (uint32_t)adler32(adler, p, n);
        p += n; len -= n;
    }
    return adler;
}

// MARK: strips

struct cpng_strip {
    uint8_t *data;      // raw deflate output (malloc'd)
    size_t len;
    size_t raw_len;     // filtered bytes that went in
    uint32_t adler;     // Adler-32 of those bytes (from 1)
    uint32_t crc;       // CRC-32 of data
    int status;         // CPNG_OK when done; -1 until then
};

struct cpng_job {
    const uint8_t *pixels;
    uint32_t width, height;
    size_t stride, rowbytes;   // rowbytes: filter byte + 3*width
    int level, filter, strategy, ssse3;
    int tune_flat;             // zlib 6 after SCREEN: flat batches get a longer match search (see encode_strip)
    uint32_t rows_per_strip, nstrips;
    uint8_t zlib_header[2];
    atomic_uint next;          // the next strip to take
    struct cpng_strip *strips; // slot i is written only by the thread that took strip i
};

/// What one thread owns: a deflate stream (reset per strip) and row buffers.
struct cpng_worker {
    z_stream z;
    int z_ready;
    int level;                 // the stream's current level: job->level, or 0 over incompressible rows
    uint8_t *batch;            // filtered rows, each with its filter byte, plus slack
    size_t batch_rows;
    uint8_t *rgb_cur, *rgb_prior, *cand, *best;   // RGB rows for AVG, PAETH and ADAPTIVE
    uint8_t *dict;             // the filtered rows before a strip (its preset dictionary); NULL when unused
    size_t dict_rows;
    uint64_t batch_cost;       // SCREEN: the chosen filters' cost summed over the batch's rows
    int long_search;           // the stream's search is tuned for flat rows (cpng_tune_flat)
};

static void cpng_worker_free(struct cpng_worker *w) {
    if (w->z_ready) deflateEnd(&w->z);
    free(w->batch); free(w->rgb_cur); free(w->rgb_prior); free(w->cand); free(w->best); free(w->dict);
    memset(w, 0, sizeof *w);
}

static int cpng_worker_init(struct cpng_worker *w, const struct cpng_job *job) {
    memset(w, 0, sizeof *w);
    if (deflateInit2(&w->z, job->level, Z_DEFLATED, -15, 8, job->strategy) != Z_OK) return CPNG_ERR_NO_MEMORY;
    w->z_ready = 1;

    w->level = job->level;
    w->batch_rows = CPNG_BATCH_BYTES / job->rowbytes;
    if (w->batch_rows == 0) w->batch_rows = 1;
    if (w->batch_rows > job->rows_per_strip) w->batch_rows = job->rows_per_strip;
    w->batch = malloc(w->batch_rows * job->rowbytes + 16);
    if (w->batch == NULL) { cpng_worker_free(w); return CPNG_ERR_NO_MEMORY; }
    if (job->nstrips > 1 && job->level > 0 && job->strategy != Z_RLE && job->strategy != Z_HUFFMAN_ONLY) {
        // Matching strategies look back up to 32 KiB: seeding each strip with the filtered rows before it (as
        // pigz does) lets the first rows of a strip match the last of the previous one, as in a single stream.
        w->dict_rows = (CPNG_WINDOW_BYTES + job->rowbytes - 1) / job->rowbytes;
        w->dict = malloc(w->dict_rows * job->rowbytes + 16);
        if (w->dict == NULL) { cpng_worker_free(w); return CPNG_ERR_NO_MEMORY; }
    }
    if (job->filter == CPNG_FILTER_AVG || job->filter == CPNG_FILTER_PAETH || job->filter == CPNG_FILTER_ADAPTIVE
        || job->filter == CPNG_FILTER_SCREEN) {
        size_t n = (size_t)job->width * 3 + 16;
        w->rgb_cur = malloc(n); w->rgb_prior = malloc(n); w->cand = malloc(n); w->best = malloc(n);
        if (w->rgb_cur == NULL || w->rgb_prior == NULL || w->cand == NULL || w->best == NULL) {
            cpng_worker_free(w);
            return CPNG_ERR_NO_MEMORY;
        }
    }
    return CPNG_OK;
}

/// Filters image row y into dst (filter byte first). For the RGB filters w->rgb_prior holds row y-1 (zeros for
/// y == 0) on entry and row y on return.
static void cpng_filter_row(struct cpng_worker *w, const struct cpng_job *job, uint32_t y, uint8_t *dst) {
    const uint8_t *src = job->pixels + (size_t)y * job->stride;
    const uint8_t *up = y > 0 ? src - job->stride : NULL;
    size_t n = (size_t)job->width * 3;
    switch (job->filter) {
    case CPNG_FILTER_NONE: case CPNG_FILTER_SUB: case CPNG_FILTER_UP:
        // UP on the first row is NONE (the row above is zeros); say so in the filter byte too.
        dst[0] = (uint8_t)(job->filter == CPNG_FILTER_UP && up == NULL ? CPNG_FILTER_NONE : job->filter);
        cpng_filter_fused(src, up, dst + 1, job->width, job->filter, job->ssse3);
        return;
    case CPNG_FILTER_SCREEN: {
        // SUB into dst, UP and NONE into scratch rows; keep the cheapest. No RGB row is kept (all fused).
        cpng_filter_fused(src, up, dst + 1, job->width, CPNG_FILTER_SUB, job->ssse3);
        uint64_t best_cost = cpng_filter_cost(dst + 1, n);
        int best_filter = CPNG_FILTER_SUB;
        if (up != NULL) {
            cpng_filter_fused(src, up, w->cand, job->width, CPNG_FILTER_UP, job->ssse3);
            uint64_t cost = cpng_filter_cost(w->cand, n);
            if (cost < best_cost) { best_cost = cost; best_filter = CPNG_FILTER_UP; memcpy(dst + 1, w->cand, n); }
        }
        cpng_filter_fused(src, up, w->cand, job->width, CPNG_FILTER_NONE, job->ssse3);
        uint64_t none_cost = cpng_filter_cost(w->cand, n);
        if (none_cost < best_cost) { best_cost = none_cost; best_filter = CPNG_FILTER_NONE; memcpy(dst + 1, w->cand, n); }
        dst[0] = (uint8_t)best_filter;
        w->batch_cost += best_cost;
        return;
    }
    case CPNG_FILTER_AVG: case CPNG_FILTER_PAETH:
        cpng_to_rgb(src, w->rgb_cur, job->width, job->ssse3);
        dst[0] = (uint8_t)job->filter;
        cpng_filter_rgb(w->rgb_cur, w->rgb_prior, dst + 1, n, job->filter);
        break;
    default: {   // ADAPTIVE: all five, the cheapest by libpng's measure
        cpng_to_rgb(src, w->rgb_cur, job->width, job->ssse3);
        uint64_t best_cost = cpng_filter_cost(w->rgb_cur, n);
        int best_filter = CPNG_FILTER_NONE;
        memcpy(w->best, w->rgb_cur, n);
        for (int f = CPNG_FILTER_SUB; f <= CPNG_FILTER_PAETH; f++) {
            cpng_filter_rgb(w->rgb_cur, w->rgb_prior, w->cand, n, f);
            uint64_t cost = cpng_filter_cost(w->cand, n);
            if (cost < best_cost) {
                best_cost = cost; best_filter = f;
                uint8_t *t = w->best; w->best = w->cand; w->cand = t;
            }
        }
        dst[0] = (uint8_t)best_filter;
        memcpy(dst + 1, w->best, n);
        break;
    }
    }
    uint8_t *t = w->rgb_prior; w->rgb_prior = w->rgb_cur; w->rgb_cur = t;
}

/// Makes sure the strip's buffer has room for more output, doubling it.
static int cpng_grow(struct cpng_strip *s, size_t *cap, z_stream *z) {
    if (*cap > SIZE_MAX / 2) return CPNG_ERR_NO_MEMORY;
    size_t grown_cap = *cap * 2;
    uint8_t *grown = realloc(s->data, grown_cap);
    if (grown == NULL) return CPNG_ERR_NO_MEMORY;
    s->data = grown;
    *cap = grown_cap;
    z->next_out = grown + s->len;
    z->avail_out = (uInt)(grown_cap - s->len > UINT32_MAX ? UINT32_MAX : grown_cap - s->len);
    return CPNG_OK;
}

/// deflateParams with output room: switching from a level to another flushes the block in progress.
static int cpng_set_level(struct cpng_worker *w, const struct cpng_job *job, struct cpng_strip *s, size_t *cap,
                          int level) {
    for (;;) {
        size_t room = *cap - s->len;
        w->z.next_out = s->data + s->len;
        w->z.avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
        uInt before = w->z.avail_out;
        int rc = deflateParams(&w->z, level, job->strategy);
        s->len += before - w->z.avail_out;
        if (rc == Z_OK) { w->level = level; w->long_search = 0; return CPNG_OK; }
        if (rc != Z_BUF_ERROR || w->z.avail_out != 0) return CPNG_ERR_LIBPNG;
        if (cpng_grow(s, cap, &w->z) != CPNG_OK) return CPNG_ERR_NO_MEMORY;
    }
}

/// Deflates `len` bytes (none: just `flush`) into the strip's buffer, growing it, until zlib has taken all input
/// and written all it holds back for this flush.
static int cpng_deflate(struct cpng_worker *w, struct cpng_strip *s, size_t *cap, const uint8_t *in, size_t len,
                        int flush) {
    w->z.next_in = (Bytef *)in;
    w->z.avail_in = (uInt)len;   // <= max(CPNG_BATCH_BYTES, one row): fits uInt
    for (;;) {
        size_t room = *cap - s->len;
        w->z.next_out = s->data + s->len;
        w->z.avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
        uInt before = w->z.avail_out;
        int rc = deflate(&w->z, flush);
        s->len += before - w->z.avail_out;
        if (rc == Z_STREAM_ERROR) return CPNG_ERR_LIBPNG;
        // No progress with room to spare: a zlib state this loop does not expect; fail rather than spin.
        if (rc == Z_BUF_ERROR && w->z.avail_out != 0 && (flush == Z_FINISH || w->z.avail_in != 0)) {
            return CPNG_ERR_LIBPNG;
        }
        // Done with this input when zlib left output room (all pending output written) or finished the stream.
        if (rc == Z_STREAM_END || (w->z.avail_out != 0 && w->z.avail_in == 0 && flush != Z_FINISH)) return CPNG_OK;
        if (w->z.avail_out == 0 && cpng_grow(s, cap, &w->z) != CPNG_OK) return CPNG_ERR_NO_MEMORY;
    }
}

static int cpng_encode_strip(struct cpng_worker *w, const struct cpng_job *job, uint32_t index) {
    struct cpng_strip *s = &job->strips[index];
    uint32_t y0 = index * job->rows_per_strip;
    uint32_t y1 = job->height - y0 > job->rows_per_strip ? y0 + job->rows_per_strip : job->height;
    int last = index + 1 == job->nstrips;
    s->raw_len = (size_t)(y1 - y0) * job->rowbytes;
    s->adler = (uint32_t)adler32(0, Z_NULL, 0);
    if (deflateReset(&w->z) != Z_OK) return CPNG_ERR_LIBPNG;
    w->long_search = 0;   // deflateReset restores the level's search parameters
    size_t cap = deflateBound(&w->z, s->raw_len) + 64;
    s->data = malloc(cap);
    if (s->data == NULL) return CPNG_ERR_NO_MEMORY;
    s->len = 0;
    if (w->level != job->level && cpng_set_level(w, job, s, &cap, job->level) != CPNG_OK) return CPNG_ERR_LIBPNG;
    // Incompressible rows (noise, video): when a batch does not shrink, the next ones are stored (level 0, a copy)
    // rather than searched for matches (level 1 spends ~40 ms of CPU on a 1080p noise frame for nothing); every
    // CPNG_PROBE_EVERY-th stored batch tries the real level again, for frames that change content.
    unsigned stored_batches = 0;
    // The rows the dictionary covers; the RGB filters need the row above the first row filtered.
    uint32_t from = w->dict != NULL && y0 > 0 ? (y0 > w->dict_rows ? y0 - (uint32_t)w->dict_rows : 0) : y0;
    if (w->rgb_prior != NULL) {
        if (from == 0) memset(w->rgb_prior, 0, (size_t)job->width * 3);
        else cpng_to_rgb(job->pixels + (size_t)(from - 1) * job->stride, w->rgb_prior, job->width, job->ssse3);
    }
    if (from < y0) {
        for (uint32_t y = from; y < y0; y++) cpng_filter_row(w, job, y, w->dict + (size_t)(y - from) * job->rowbytes);
        size_t have = (size_t)(y0 - from) * job->rowbytes;
        size_t use = have < CPNG_WINDOW_BYTES ? have : CPNG_WINDOW_BYTES;
        if (deflateSetDictionary(&w->z, w->dict + (have - use), (uInt)use) != Z_OK) return CPNG_ERR_LIBPNG;
    }
    for (uint32_t y = y0; y < y1;) {
        uint32_t n = y1 - y < w->batch_rows ? y1 - y : (uint32_t)w->batch_rows;
        w->batch_cost = 0;
        for (uint32_t r = 0; r < n; r++) cpng_filter_row(w, job, y + r, w->batch + (size_t)r * job->rowbytes);
        size_t len = (size_t)n * job->rowbytes;   // <= max(CPNG_BATCH_BYTES, one row): fits uInt
        s->adler = cpng_adler32(s->adler, w->batch, len);
        y += n;
        int flush = y < y1 ? Z_NO_FLUSH : (last ? Z_FINISH : Z_BLOCK);
        if (w->level == 0 && job->level != 0 && ++stored_batches % CPNG_PROBE_EVERY == 0
            && cpng_set_level(w, job, s, &cap, job->level) != CPNG_OK) {
            return CPNG_ERR_LIBPNG;
        }
        // Nearly flat rows (SCREEN cost under 1/8 per byte: bars, ramps, repeated rows) get zlib 6 with a long
        // match search, which finds the matches a row (or a pattern period) back that the default's 128-step chain
        // misses; it costs little there because such rows have few distinct strings. Text and photos keep zlib 6.
        if (job->tune_flat && w->level == job->level) {
            int flat = w->batch_cost * CPNG_FLAT_COST_DIVISOR < len;
            if (flat != w->long_search) {
                if (flat) deflateTune(&w->z, 32, 16, 258, 1024);   // good, lazy, nice, chain
                else deflateTune(&w->z, 8, 16, 128, 128);          // zlib 6's own
                w->long_search = flat;
            }
        }
        size_t start_len = s->len;
        int rc = cpng_deflate(w, s, &cap, w->batch, len, flush);
        if (rc != CPNG_OK) return rc;
        // Output lags input by what zlib holds back (less than a block), so this is a rough measure; noise makes
        // as many bytes as it takes in.
        if (w->level != 0 && y < y1 && (s->len - start_len) * 64 >= len * 63
            && cpng_set_level(w, job, s, &cap, 0) != CPNG_OK) {
            return CPNG_ERR_LIBPNG;
        }
    }
    if (!last) {
        // The strip must end on a byte boundary, its last block not final, so that the next strip's bytes follow.
        // Z_SYNC_FLUSH does it with an empty stored block: 3 bits, padding and 4 bytes. When the bits left after
        // the last block are an even number, empty fixed-Huffman blocks (10 bits each: BFINAL 0, BTYPE 01, EOB)
        // reach the boundary in at most 4 bytes, and in none when it is already reached.
        unsigned pending;
        int bits;
        if (deflatePending(&w->z, &pending, &bits) != Z_OK) return CPNG_ERR_LIBPNG;
        int rc;
        if (bits % 2 == 0) {
            for (int b = bits; b % 8 != 0; b += 10) {
                if (deflatePrime(&w->z, 10, 2) != Z_OK) return CPNG_ERR_LIBPNG;
            }
            rc = bits == 0 && pending == 0 ? CPNG_OK : cpng_deflate(w, s, &cap, NULL, 0, Z_BLOCK);
        } else {
            rc = cpng_deflate(w, s, &cap, NULL, 0, Z_SYNC_FLUSH);
        }
        if (rc != CPNG_OK) return rc;
    }
    s->crc = (uint32_t)crc32(0, s->data, (uInt)s->len);   // len < 2^31 (cpng_max_strip_bytes)
    return CPNG_OK;
}

/// Takes strips until none are left. Strips whose encoding fails record the failure; others carry on.
static void *cpng_worker_run(void *arg) {
    struct cpng_job *job = arg;
    struct cpng_worker w;
    if (cpng_worker_init(&w, job) != CPNG_OK) return NULL;   // the other threads (and the caller) take the strips
    for (;;) {
        unsigned index = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (index >= job->nstrips) break;
        job->strips[index].status = cpng_encode_strip(&w, job, index);
    }
    cpng_worker_free(&w);
    return NULL;
}

static int cpng_online_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int cpng_z_strategy(int strategy) {
    switch (strategy) {
    case CPNG_STRATEGY_DEFAULT: return Z_DEFAULT_STRATEGY;
    case CPNG_STRATEGY_FILTERED: return Z_FILTERED;
    case CPNG_STRATEGY_HUFFMAN_ONLY: return Z_HUFFMAN_ONLY;
    case CPNG_STRATEGY_RLE: return Z_RLE;
    default: return -1;
    }
}

int cpng_encode_bgrx_strips(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride, int zlib_level,
                            int filter, int strategy, int threads, uint8_t **out, size_t *out_len, char *err,
                            size_t errlen) {
    cpng_set_message(err, errlen, "");
    if (out == NULL || out_len == NULL) return CPNG_ERR_ARGUMENT;
    *out = NULL;
    *out_len = 0;
    int z_strategy = cpng_z_strategy(strategy);
    if (pixels == NULL || width == 0 || height == 0 || width > PNG_USER_WIDTH_MAX || height > PNG_USER_HEIGHT_MAX
        || stride / 4 < width || zlib_level < 0 || zlib_level > 9 || filter < CPNG_FILTER_NONE
        || filter > CPNG_FILTER_SCREEN || z_strategy < 0 || threads < 0) {
        cpng_set_message(err, errlen, "invalid encode arguments");
        return CPNG_ERR_ARGUMENT;
    }

    struct cpng_job job = {
        .pixels = pixels, .width = width, .height = height, .stride = stride, .rowbytes = 1 + (size_t)width * 3,
        .level = zlib_level, .filter = filter, .strategy = z_strategy, .ssse3 = cpng_have_ssse3(),
    };
    // Strips: a few per thread for balance, none smaller than CPNG_MIN_STRIP_BYTES, none larger than
    // cpng_max_strip_bytes (one row is at most 3 MB, so that always holds with one row per strip).
    if (threads == 0) threads = cpng_online_cpus();
    if (threads > CPNG_MAX_THREADS) threads = CPNG_MAX_THREADS;
    size_t total = (size_t)height * job.rowbytes;
    // Lazy-matching levels (4+) pay for each strip boundary (a new block, matches that cannot cross it even with
    // the preset dictionary's help for the first ones): one strip per thread there keeps files as small as one
    // stream's (the test guest's bars, before the long search on flat rows: 4951 B on one thread, 4972 B on two;
    // 4 strips per thread cost ~150 B more).
    int lazy = zlib_level >= 4 && z_strategy != Z_RLE && z_strategy != Z_HUFFMAN_ONLY;
    size_t nstrips = threads > 1 ? (size_t)threads * (lazy ? 1 : CPNG_STRIPS_PER_THREAD) : 1;
    if (nstrips > total / CPNG_MIN_STRIP_BYTES) nstrips = total / CPNG_MIN_STRIP_BYTES;
    size_t at_least = (total + cpng_max_strip_bytes - 1) / cpng_max_strip_bytes;
    if (nstrips < at_least) nstrips = at_least;
    if (nstrips > height) nstrips = height;
    if (nstrips == 0) nstrips = 1;
    job.rows_per_strip = (uint32_t)((height + nstrips - 1) / nstrips);
    job.nstrips = (height + job.rows_per_strip - 1) / job.rows_per_strip;
    atomic_init(&job.next, 0);
    job.tune_flat = zlib_level == 6 && filter == CPNG_FILTER_SCREEN && z_strategy == Z_DEFAULT_STRATEGY;

    // zlib header: deflate with a 32 KiB window, FLEVEL as zlib sets it, FCHECK making it a multiple of 31.
    unsigned flevel = zlib_level <= 1 ? 0 : zlib_level <= 5 ? 1 : zlib_level == 6 ? 2 : 3;
    if (z_strategy == Z_HUFFMAN_ONLY || z_strategy == Z_RLE) flevel = 0;
    unsigned header = 0x78u << 8 | flevel << 6;
    header += 31 - header % 31;
    job.zlib_header[0] = (uint8_t)(header >> 8);
    job.zlib_header[1] = (uint8_t)header;

    job.strips = calloc(job.nstrips, sizeof *job.strips);
    if (job.strips == NULL) { cpng_set_message(err, errlen, "out of memory"); return CPNG_ERR_NO_MEMORY; }
    for (uint32_t i = 0; i < job.nstrips; i++) job.strips[i].status = -1;

    // Threads: the caller's plus up to threads-1 more (never more than strips). A thread that cannot start just
    // leaves its share to the others.
    pthread_t tids[CPNG_MAX_THREADS];
    int started = 0;
    int want = (uint32_t)threads < job.nstrips ? threads : (int)job.nstrips;
    for (int i = 1; i < want; i++) {
        if (pthread_create(&tids[started], NULL, cpng_worker_run, &job) == 0) started++;
    }
    cpng_worker_run(&job);
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);

    int status = CPNG_OK;
    size_t png_len = 8 + 25 + 2 + 4 + 12;   // signature, IHDR, zlib header, Adler-32, IEND
    uint32_t adler = (uint32_t)adler32(0, Z_NULL, 0);
    size_t chunk_len = 0;                    // the open IDAT chunk's data so far (the zlib header first)
    for (uint32_t i = 0; i < job.nstrips; i++) {
        struct cpng_strip *s = &job.strips[i];
        if (s->status != CPNG_OK) { status = s->status == CPNG_ERR_LIBPNG ? s->status : CPNG_ERR_NO_MEMORY; break; }
        if (i == 0 || chunk_len + s->len + 4 > CPNG_MAX_CHUNK) { png_len += 12; chunk_len = i == 0 ? 2 : 0; }
        png_len += s->len;
        chunk_len += s->len;
        adler = (uint32_t)adler32_combine(adler, s->adler, (z_off_t)s->raw_len);
    }
    uint8_t *png = status == CPNG_OK ? malloc(png_len) : NULL;
    if (status == CPNG_OK && png == NULL) status = CPNG_ERR_NO_MEMORY;
    if (status == CPNG_OK) {
        static const uint8_t signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
        uint8_t *p = png;
        memcpy(p, signature, 8); p += 8;
        cpng_put32(p, 13); memcpy(p + 4, "IHDR", 4);
        cpng_put32(p + 8, width); cpng_put32(p + 12, height);
        p[16] = 8; p[17] = 2; p[18] = 0; p[19] = 0; p[20] = 0;   // 8-bit RGB, deflate, adaptive filtering, no interlace
        cpng_put32(p + 21, (uint32_t)crc32(0, p + 4, 17)); p += 25;
        // IDAT chunks: the same grouping as above. A chunk's length and CRC are written when it closes.
        uint8_t *chunk = NULL;
        uint32_t crc = 0;
        for (uint32_t i = 0; i <= job.nstrips; i++) {
            struct cpng_strip *s = i < job.nstrips ? &job.strips[i] : NULL;
            size_t open_len = chunk != NULL ? (size_t)(p - chunk) - 8 : 0;
            if (chunk != NULL && (s == NULL || open_len + s->len + 4 > CPNG_MAX_CHUNK)) {
                if (s == NULL) {   // the last chunk ends with the zlib stream's Adler-32
                    cpng_put32(p, adler);
                    crc = (uint32_t)crc32(crc, p, 4);
                    p += 4;
                }
                cpng_put32(chunk, (uint32_t)((size_t)(p - chunk) - 8));
                cpng_put32(p, crc); p += 4;
                chunk = NULL;
            }
            if (s == NULL) break;
            if (chunk == NULL) {
                chunk = p;
                memcpy(p + 4, "IDAT", 4); p += 8;
                crc = (uint32_t)crc32(0, (const Bytef *)"IDAT", 4);
                if (i == 0) { memcpy(p, job.zlib_header, 2); crc = (uint32_t)crc32(crc, p, 2); p += 2; }
            }
            memcpy(p, s->data, s->len); p += s->len;
            crc = (uint32_t)crc32_combine(crc, s->crc, (z_off_t)s->len);
        }
        cpng_put32(p, 0); memcpy(p + 4, "IEND", 4); cpng_put32(p + 8, (uint32_t)crc32(0, p + 4, 4)); p += 12;
        *out = png;
        *out_len = (size_t)(p - png);
    } else {
        cpng_set_message(err, errlen, status == CPNG_ERR_LIBPNG ? "zlib deflate failed" : "out of memory");
    }
    for (uint32_t i = 0; i < job.nstrips; i++) free(job.strips[i].data);
    free(job.strips);
    return status;
}
