// CPNG: libpng behind a setjmp boundary, and a parallel PNG writer on zlib. Swift cannot call setjmp/png_jmpbuf, so
// every libpng call runs here and failures come back as a status code plus libpng's message; nothing ever longjmps
// into Swift or aborts.
#ifndef CPNG_H
#define CPNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes of every cpng_* function.
enum {
    CPNG_OK = 0,
    CPNG_ERR_LIBPNG = 1,      // libpng reported an error: the message is in `err`
    CPNG_ERR_TOO_LARGE = 2,   // the image exceeds the caller's pixel limit (checked from IHDR before allocating)
    CPNG_ERR_NO_MEMORY = 3,   // an allocation failed
    CPNG_ERR_ARGUMENT = 4,    // bad arguments (zero size, short stride, unknown filter, level out of 0...9)
};

/// Row filters (PNG spec 9.2). ADAPTIVE lets libpng try all five per row.
enum {
    CPNG_FILTER_NONE = 0,
    CPNG_FILTER_SUB = 1,
    CPNG_FILTER_UP = 2,
    CPNG_FILTER_AVG = 3,
    CPNG_FILTER_PAETH = 4,
    CPNG_FILTER_ADAPTIVE = 5,
    /// Per row the cheapest of NONE, SUB and UP by ADAPTIVE's measure: all three come from the fused BGRX path,
    /// so it costs a fraction of ADAPTIVE and gets most of its gain on screen content (bars, ramps, text).
    CPNG_FILTER_SCREEN = 6,
};

/// zlib strategies (zlib.h values). RLE is the fastest useful one for screen content after a row filter.
enum {
    CPNG_STRATEGY_DEFAULT = 0,
    CPNG_STRATEGY_FILTERED = 1,
    CPNG_STRATEGY_HUFFMAN_ONLY = 2,
    CPNG_STRATEGY_RLE = 3,
};

/// Encodes `height` rows of `width` B,G,R,X pixels (`stride` bytes apart, >= width*4) as an 8-bit RGB PNG in a
/// malloc'd buffer (*out, free with cpng_free). Uses CPNG_STRATEGY_RLE. `err` gets a NUL-terminated message on failure.
int cpng_encode_bgrx(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride, int zlib_level,
                     int filter, uint8_t **out, size_t *out_len, char *err, size_t errlen);

/// As cpng_encode_bgrx with an explicit zlib strategy (CPNG_STRATEGY_*), for tuning.
int cpng_encode_bgrx_strategy(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride,
                              int zlib_level, int filter, int strategy, uint8_t **out, size_t *out_len, char *err,
                              size_t errlen);

/// Encodes like cpng_encode_bgrx_strategy (same arguments, same limits, 8-bit RGB, not interlaced) without libpng:
/// the PNG is written here and the rows are cut into horizontal strips deflated in parallel, each strip's deflate
/// stream ended by a sync flush and all of them concatenated into one zlib stream (one IDAT chunk per strip).
/// `threads`: how many threads (the caller's included) deflate strips; 0 = one per CPU this process may run on, at
/// most 16; 1 = a single strip on the calling thread (a plain, non-parallel encoder). Small images get fewer strips.
/// CPNG_FILTER_ADAPTIVE chooses per row by libpng's heuristic (the least sum of absolute filtered values).
/// zlib failures give CPNG_ERR_LIBPNG with a message naming zlib.
int cpng_encode_bgrx_strips(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride, int zlib_level,
                            int filter, int strategy, int threads, uint8_t **out, size_t *out_len, char *err,
                            size_t errlen);

/// Adler-32 of `len` bytes continuing from `adler` (1 to start), equal to zlib's adler32(); SIMD where the CPU has it.
/// Exported for tests.
uint32_t cpng_adler32(uint32_t adler, const uint8_t *p, size_t len);

/// Decodes any PNG (all colour types and bit depths, interlaced or not) to 8-bit R,G,B,A rows of width*4 bytes in a
/// malloc'd buffer (*out, free with cpng_free). Images with more than `max_pixels` pixels are refused with
/// CPNG_ERR_TOO_LARGE before the pixel buffer is allocated
/// (*width and *height then hold the claimed size). Truncated or corrupt input gives CPNG_ERR_LIBPNG.
/// 16-bit samples are reduced to 8 bits; gamma and colour-space chunks are ignored (samples are returned as stored).
int cpng_decode_rgba(const uint8_t *data, size_t len, uint64_t max_pixels, uint8_t **out, size_t *out_len,
                     uint32_t *width, uint32_t *height, char *err, size_t errlen);

/// Frees a buffer returned by any cpng_encode_* function or cpng_decode_rgba (NULL is fine).
void cpng_free(void *buffer);

#ifdef __cplusplus
}
#endif

#endif
