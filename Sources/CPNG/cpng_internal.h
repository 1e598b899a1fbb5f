// cpng_internal.h: helpers shared by the CPNG sources (not part of the module's public header).
#ifndef CPNG_INTERNAL_H
#define CPNG_INTERNAL_H
#include <stddef.h>
#include <string.h>

/// Copies `message` into the caller's buffer, truncated and always terminated.
static inline void cpng_set_message(char *buf, size_t len, const char *message) {
    if (buf == NULL || len == 0) return;
    size_t n = strlen(message);
    if (n >= len) n = len - 1;
    memcpy(buf, message, n);
    buf[n] = '\0';
}
#endif
