#define _GNU_SOURCE   // pthread_rwlockattr_setkind_np
// CVNCServer: thin C around libvncserver. See include/CVNCServer.h for the contract of each function.
#include "CVNCServer.h"

#include <rfb/rfbregion.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- the client list guard ----
// libvncserver 0.9.14's client iterator reads the next client and takes its reference without the list lock,
// and a leaving client's thread frees it once its reference count is 0: an iteration racing a client that leaves
// can touch freed memory (seen here as heap corruption with hundreds of clients coming and going). Every call of
// ours that iterates clients holds this lock shared; a leaving client's gone-hook (vireo_vnc_client_gone_barrier,
// called right before libvncserver frees the client, after it left the list) takes it exclusively, so no
// iteration that could still reach the client is running when it is freed.
static pthread_rwlock_t client_list_guard = PTHREAD_RWLOCK_INITIALIZER;
#define ITERATING_CLIENTS_BEGIN pthread_rwlock_rdlock(&client_list_guard)
#define ITERATING_CLIENTS_END pthread_rwlock_unlock(&client_list_guard)

void vireo_vnc_client_gone_barrier(void) {
    pthread_rwlock_wrlock(&client_list_guard);
    pthread_rwlock_unlock(&client_list_guard);
}

void vireo_vnc_mark_modified(rfbScreenInfoPtr screen, int x1, int y1, int x2, int y2) {
    ITERATING_CLIENTS_BEGIN;
    rfbMarkRectAsModified(screen, x1, y1, x2, y2);
    ITERATING_CLIENTS_END;
}

void vireo_vnc_new_framebuffer(rfbScreenInfoPtr screen, char *framebuffer, int width, int height) {
    ITERATING_CLIENTS_BEGIN;
    rfbNewFramebuffer(screen, framebuffer, width, height, 8, 3, 4);
    ITERATING_CLIENTS_END;
}

// ---- logging ----------------------------------------------------------------------------------------------------

static vireo_vnc_log_handler log_handler;

static void forward_log(int is_error, const char *format, va_list args) {
    char line[512];
    vsnprintf(line, sizeof line, format, args);
    // libvncserver ends most lines with '\n' and some with none; the handler gets bare lines.
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    vireo_vnc_log_handler handler = log_handler;
    if (handler && n > 0) handler(is_error, line);
}

static void log_info(const char *format, ...) {
    va_list args;
    va_start(args, format);
    forward_log(0, format, args);
    va_end(args);
}

static void log_error(const char *format, ...) {
    va_list args;
    va_start(args, format);
    forward_log(1, format, args);
    va_end(args);
}

void vireo_vnc_set_log_handler(vireo_vnc_log_handler handler) {
    log_handler = handler;
    rfbLog = log_info;
    rfbErr = log_error;
}

// ---- screen -----------------------------------------------------------------------------------------------------

void vireo_vnc_init_server(rfbScreenInfoPtr screen) { rfbInitServer(screen); }

void vireo_vnc_lock_framebuffer(rfbScreenInfoPtr screen) { LOCK(screen->cursorMutex); }
void vireo_vnc_unlock_framebuffer(rfbScreenInfoPtr screen) { UNLOCK(screen->cursorMutex); }

/// B,G,R,X (the display model) to R,G,B,X (libvncserver's default format, kept because rfbNewFramebuffer resets
/// the server format on every resize).
static inline void bgrx_to_rgbx(uint8_t *to, const uint8_t *from) {
    to[0] = from[2];
    to[1] = from[1];
    to[2] = from[0];
    to[3] = 0xff;
}

int vireo_vnc_copy_bgrx(rfbScreenInfoPtr screen, int x, int y, int width, int height,
                        const uint8_t *source, size_t source_stride, int changed[4]) {
    uint8_t *base = (uint8_t *)screen->frameBuffer;
    size_t stride = (size_t)screen->paddedWidthInBytes;
    int first_row = -1, last_row = -1, first_col = width, last_col = -1;
    for (int row = 0; row < height; row++) {
        const uint8_t *from = source + (size_t)row * source_stride;
        uint8_t *to = base + (size_t)(y + row) * stride + (size_t)x * 4;
        int first = -1, last = -1;
        for (int col = 0; col < width; col++, from += 4, to += 4) {
            // The padding byte is 0xff (opaque) for clients that read it as alpha.
            uint8_t want[4] = {from[2], from[1], from[0], 0xff};
            uint32_t have_word, want_word;
            memcpy(&have_word, to, 4);
            memcpy(&want_word, want, 4);
            if (have_word == want_word) continue;
            memcpy(to, want, 4);
            if (first < 0) first = col;
            last = col;
        }
        if (first < 0) continue;
        if (first_row < 0) first_row = row;
        last_row = row;
        if (first < first_col) first_col = first;
        if (last > last_col) last_col = last;
    }
    if (first_row < 0) return 0;
    changed[0] = x + first_col;
    changed[1] = y + first_row;
    changed[2] = x + last_col + 1;
    changed[3] = y + last_row + 1;
    return 1;
}

// ---- the frame guard ----
// libvncserver encodes straight from the shared framebuffer, a few lines at a time between socket writes, with
// no lock against the exporter's copy: a copy landing mid-send mixed two guest frames in one update (measured:
// 47 of 302 full-screen updates at 60 flips/s, scripts/bench-vnc.sh). Sends hold this lock shared (display
// hooks), the copy exclusively, preferring the writer so a stream of sends cannot starve it.
struct vireo_vnc_frame_guard {
    pthread_rwlock_t lock;
};

vireo_vnc_frame_guard *vireo_vnc_frame_guard_new(void) {
    vireo_vnc_frame_guard *guard = calloc(1, sizeof *guard);
    if (!guard) abort();
    pthread_rwlockattr_t attributes;
    pthread_rwlockattr_init(&attributes);
    pthread_rwlockattr_setkind_np(&attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&guard->lock, &attributes);
    pthread_rwlockattr_destroy(&attributes);
    return guard;
}

void vireo_vnc_frame_guard_enter_send(vireo_vnc_frame_guard *guard) { pthread_rwlock_rdlock(&guard->lock); }
void vireo_vnc_frame_guard_leave_send(vireo_vnc_frame_guard *guard) { pthread_rwlock_unlock(&guard->lock); }

int vireo_vnc_frame_guard_lock_copy(vireo_vnc_frame_guard *guard, long max_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += max_ms / 1000;
    until.tv_nsec += (max_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec += 1;
        until.tv_nsec -= 1000000000L;
    }
    return pthread_rwlock_timedwrlock(&guard->lock, &until) == 0;
}

void vireo_vnc_frame_guard_unlock_copy(vireo_vnc_frame_guard *guard) { pthread_rwlock_unlock(&guard->lock); }

int vireo_vnc_repair_bgrx(rfbScreenInfoPtr screen, int x, int y, int width, int height,
                          const uint8_t *source, size_t source_stride) {
    int changed = 0;
    uint8_t *base = (uint8_t *)screen->frameBuffer;
    size_t stride = (size_t)screen->paddedWidthInBytes;
    LOCK(screen->cursorMutex);
    for (int row = 0; row < height; row++) {
        const uint8_t *from = source + (size_t)row * source_stride;
        uint8_t *to = base + (size_t)(y + row) * stride + (size_t)x * 4;
        for (int col = 0; col < width; col++, from += 4, to += 4) {
            uint8_t want[4];
            bgrx_to_rgbx(want, from);
            if (memcmp(to, want, 3) != 0) {
                memcpy(to, want, 4);
                changed = 1;
            }
        }
    }
    UNLOCK(screen->cursorMutex);
    return changed;
}

void vireo_vnc_mark_modified_for_cursor_clients(rfbScreenInfoPtr screen, int x1, int y1, int x2, int y2) {
    if (x1 < 0) x1 = 0;
    if (y1 < 0) y1 = 0;
    if (x2 > screen->width) x2 = screen->width;
    if (y2 > screen->height) y2 = screen->height;
    if (x1 >= x2 || y1 >= y2) return;
    ITERATING_CLIENTS_BEGIN;
    rfbClientIteratorPtr iterator = rfbGetClientIterator(screen);
    rfbClientPtr client;
    while ((client = rfbClientIteratorNext(iterator))) {
        if (!client->enableCursorShapeUpdates) continue;
        sraRegionPtr region = sraRgnCreateRect(x1, y1, x2, y2);
        LOCK(client->updateMutex);
        sraRgnOr(client->modifiedRegion, region);
        TSIGNAL(client->updateCond);
        UNLOCK(client->updateMutex);
        sraRgnDestroy(region);
    }
    rfbReleaseClientIterator(iterator);
    ITERATING_CLIENTS_END;
}

// ---- cursor -----------------------------------------------------------------------------------------------------

// Client threads read the screen's cursor while they send its shape without any lock, so a replaced cursor is
// freed a minute later, or after 64 newer ones (a send that takes that long has been dropped long before).
enum { RETIRED_CURSORS = 64, CURSOR_GRACE_SECONDS = 60 };
static struct { rfbCursorPtr cursor; time_t retired; } retired_cursors[RETIRED_CURSORS];

static void free_cursor(rfbCursorPtr cursor) {
    free(cursor->source);
    free(cursor->mask);
    free(cursor->richSource);
    free(cursor->alphaSource);
    free(cursor);
}

/// Called by the one thread that sets cursors (the exporter's pump).
static void retire_cursor(rfbCursorPtr cursor) {
    if (!cursor) return;
    time_t now = time(NULL);
    int slot = -1;
    for (int i = 0; i < RETIRED_CURSORS; i++) {
        if (retired_cursors[i].cursor && now - retired_cursors[i].retired >= CURSOR_GRACE_SECONDS) {
            free_cursor(retired_cursors[i].cursor);
            retired_cursors[i].cursor = NULL;
        }
        if (!retired_cursors[i].cursor && slot < 0) slot = i;
    }
    if (slot < 0) {
        // An animated cursor changes many times a minute: free the oldest (64 changes ago) to stay bounded.
        slot = 0;
        for (int i = 1; i < RETIRED_CURSORS; i++) {
            if (retired_cursors[i].retired < retired_cursors[slot].retired) slot = i;
        }
        free_cursor(retired_cursors[slot].cursor);
    }
    retired_cursors[slot].cursor = cursor;
    retired_cursors[slot].retired = now;
}

static void replace_cursor(rfbScreenInfoPtr screen, rfbCursorPtr cursor) {
    rfbCursorPtr old = screen->cursor;
    ITERATING_CLIENTS_BEGIN;
    rfbSetCursor(screen, cursor);
    // rfbSetCursor marks the shape changed but wakes no client thread: a viewer whose update request is already
    // waiting would get the new shape only with the next change of pixels.
    rfbClientIteratorPtr iterator = rfbGetClientIterator(screen);
    rfbClientPtr client;
    while ((client = rfbClientIteratorNext(iterator))) {
        LOCK(client->updateMutex);
        TSIGNAL(client->updateCond);
        UNLOCK(client->updateMutex);
    }
    rfbReleaseClientIterator(iterator);
    ITERATING_CLIENTS_END;
    retire_cursor(old);
}

/// Bumped on every cursor change (of any screen): Cursor With Alpha clients compare it with what they were sent.
static atomic_ulong cursor_generation = 1;

void vireo_vnc_set_cursor(rfbScreenInfoPtr screen, const uint8_t *bgra, int width, int height, int hot_x, int hot_y) {
    atomic_fetch_add(&cursor_generation, 1);
    if (!bgra || width <= 0 || height <= 0) {
        replace_cursor(screen, NULL);
        return;
    }
    size_t pixels = (size_t)width * (size_t)height;
    size_t mask_row = (size_t)(width + 7) / 8;
    rfbCursorPtr cursor = calloc(1, sizeof *cursor);
    unsigned char *rich = malloc(pixels * 4);
    unsigned char *alpha = malloc(pixels);
    unsigned char *mask = calloc(mask_row, (size_t)height);
    if (!cursor || !rich || !alpha || !mask) {
        free(cursor); free(rich); free(alpha); free(mask);
        return;
    }
    for (size_t i = 0; i < pixels; i++) {
        // The framebuffer's (and so the rich cursor's) pixel format is libvncserver's default R,G,B,X.
        rich[i * 4 + 0] = bgra[i * 4 + 2];
        rich[i * 4 + 1] = bgra[i * 4 + 1];
        rich[i * 4 + 2] = bgra[i * 4 + 0];
        rich[i * 4 + 3] = 0;
        alpha[i] = bgra[i * 4 + 3];
        if (alpha[i] >= 128) {
            size_t row = i / (size_t)width, col = i % (size_t)width;
            mask[row * mask_row + col / 8] |= (unsigned char)(0x80 >> (col % 8));
        }
    }
    cursor->width = (unsigned short)width;
    cursor->height = (unsigned short)height;
    cursor->xhot = (unsigned short)(hot_x < width ? hot_x : width - 1);
    cursor->yhot = (unsigned short)(hot_y < height ? hot_y : height - 1);
    cursor->richSource = rich;
    cursor->alphaSource = alpha;
    cursor->alphaPreMultiplied = FALSE;
    cursor->mask = mask;
    // source (the 1-bit picture for X-style cursors) is derived by libvncserver from the rich source.
    cursor->foreRed = cursor->foreGreen = cursor->foreBlue = 0;
    cursor->backRed = cursor->backGreen = cursor->backBlue = 0xffff;
    // Freed by retire_cursor, never by libvncserver (see above); the X-style bitmap is made now, not lazily by
    // client threads (two of them could make it at once).
    rfbMakeXCursorFromRichCursor(screen, cursor);
    cursor->cleanup = FALSE;
    cursor->cleanupSource = FALSE;
    cursor->cleanupMask = FALSE;
    cursor->cleanupRichSource = FALSE;
    replace_cursor(screen, cursor);
}

void vireo_vnc_move_cursor(rfbScreenInfoPtr screen, int x, int y) {
    ITERATING_CLIENTS_BEGIN;
    LOCK(screen->cursorMutex);
    int old_x = screen->cursorX, old_y = screen->cursorY;
    screen->cursorX = x;
    screen->cursorY = y;
    int width = screen->cursor ? screen->cursor->width : 0, height = screen->cursor ? screen->cursor->height : 0;
    int hot_x = screen->cursor ? screen->cursor->xhot : 0, hot_y = screen->cursor ? screen->cursor->yhot : 0;
    UNLOCK(screen->cursorMutex);
    int compositing = 0;
    rfbClientIteratorPtr iterator = rfbGetClientIterator(screen);
    rfbClientPtr client;
    while ((client = rfbClientIteratorNext(iterator))) {
        if (!client->enableCursorShapeUpdates) {
            compositing = 1;
        } else if (client->enableCursorPosUpdates) {
            LOCK(client->updateMutex);
            client->cursorWasMoved = TRUE;
            TSIGNAL(client->updateCond);
            UNLOCK(client->updateMutex);
        }
    }
    rfbReleaseClientIterator(iterator);
    // Clients that get the cursor drawn into their pixels need the old and the new place sent again.
    if (compositing && width > 0) {
        rfbMarkRectAsModified(screen, old_x - hot_x, old_y - hot_y, old_x - hot_x + width, old_y - hot_y + height);
        rfbMarkRectAsModified(screen, x - hot_x, y - hot_y, x - hot_x + width, y - hot_y + height);
    }
    ITERATING_CLIENTS_END;
}

// ---- password ---------------------------------------------------------------------------------------------------

static vireo_vnc_auth_gate auth_gate;
/// libvncserver's DES (d3des) keeps its key schedule in a static array: two clients' checks at once would mix
/// keys, and each client has its own thread. One check at a time (a check takes microseconds).
static pthread_mutex_t password_check_lock = PTHREAD_MUTEX_INITIALIZER;

static rfbBool check_password(rfbClientPtr client, const char *response, int length) {
    vireo_vnc_auth_gate gate = auth_gate;
    if (gate && !gate(client, VIREO_VNC_AUTH_BEFORE, 0)) return FALSE;
    pthread_mutex_lock(&password_check_lock);
    rfbBool accepted = rfbCheckPasswordByList(client, response, length);
    pthread_mutex_unlock(&password_check_lock);
    if (gate) gate(client, VIREO_VNC_AUTH_AFTER, accepted ? 1 : 0);
    return accepted;
}

void vireo_vnc_set_password(rfbScreenInfoPtr screen, const char *password, vireo_vnc_auth_gate gate) {
    if (!password) {
        screen->authPasswdData = NULL;
        screen->passwordCheck = NULL;
        return;
    }
    // A NULL-terminated list, as rfbCheckPasswordByList reads it; it lives as long as the screen (process).
    char **list = calloc(2, sizeof(char *));
    if (!list) return;
    list[0] = strdup(password);
    auth_gate = gate;
    screen->authPasswdData = list;
    screen->passwordCheck = check_password;
}

// ---- QEMU extended key event ------------------------------------------------------------------------------------

enum { QEMU_EXTENDED_KEY_ENCODING = -258, QEMU_CLIENT_MESSAGE = 255, QEMU_EXTENDED_KEY_SUBTYPE = 0 };

static vireo_vnc_scancode_handler scancode_handler;
static int qemu_key_encodings[] = { QEMU_EXTENDED_KEY_ENCODING, 0 };

/// The acknowledgement QEMU sends: a FramebufferUpdate with one empty rectangle of the pseudo-encoding.
static void acknowledge_extended_key(rfbClientPtr client) {
    unsigned char message[4 + 12] = { rfbFramebufferUpdate, 0, 0, 1 };
    int32_t encoding = QEMU_EXTENDED_KEY_ENCODING;
    uint32_t wire = Swap32IfLE((uint32_t)encoding);
    memcpy(message + 4 + 8, &wire, 4);
    LOCK(client->sendMutex);
    if (rfbWriteExact(client, (const char *)message, sizeof message) < 0) rfbLogPerror("extended key event ack");
    UNLOCK(client->sendMutex);
}

static rfbBool enable_extended_key(rfbClientPtr client, void **data, int encoding) {
    (void)data;
    if (encoding != QEMU_EXTENDED_KEY_ENCODING) return FALSE;
    acknowledge_extended_key(client);
    return TRUE;
}

static rfbBool handle_qemu_message(rfbClientPtr client, void *data, const rfbClientToServerMsg *message) {
    (void)data;
    if (message->type != QEMU_CLIENT_MESSAGE) return FALSE;
    unsigned char subtype;
    if (rfbReadExact(client, (char *)&subtype, 1) <= 0) {
        rfbCloseClient(client);
        return TRUE;
    }
    if (subtype != QEMU_EXTENDED_KEY_SUBTYPE) {
        // Other QEMU messages (audio) have lengths of their own: the stream cannot be resynchronised.
        rfbLog("QEMU client message subtype %d is not supported; closing %s\n", subtype, client->host);
        rfbCloseClient(client);
        return TRUE;
    }
    unsigned char body[10];   // down-flag u16, keysym u32, keycode u32 (big-endian)
    if (rfbReadExact(client, (char *)body, sizeof body) <= 0) {
        rfbCloseClient(client);
        return TRUE;
    }
    uint16_t down = (uint16_t)(body[0] << 8 | body[1]);
    uint32_t keysym = (uint32_t)body[2] << 24 | (uint32_t)body[3] << 16 | (uint32_t)body[4] << 8 | body[5];
    uint32_t keycode = (uint32_t)body[6] << 24 | (uint32_t)body[7] << 16 | (uint32_t)body[8] << 8 | body[9];
    // QEMU's wire form puts the 0xe0 prefix in bit 7 of the code (0x80 | code); the sink takes 0xe0XX.
    uint32_t scancode = (keycode & 0x80) ? (0xe000 | (keycode & 0x7f)) : keycode;
    vireo_vnc_scancode_handler handler = scancode_handler;
    if (handler) handler(client, scancode, keysym, down != 0);
    return TRUE;
}

static rfbProtocolExtension qemu_key_extension = {
    .newClient = NULL,
    .init = NULL,
    .pseudoEncodings = qemu_key_encodings,
    .enablePseudoEncoding = enable_extended_key,
    .handleMessage = handle_qemu_message,
};

void vireo_vnc_register_qemu_key_extension(vireo_vnc_scancode_handler handler) {
    if (scancode_handler) return;
    scancode_handler = handler;
    rfbRegisterProtocolExtension(&qemu_key_extension);
}

// ---- Cursor With Alpha (pseudo-encoding -314) ---------------------------------------------------------------------
// libvncserver 0.9.14 sends cursors as RichCursor (a 1-bit mask). For a client that lists -314 (TigerVNC) the cursor
// also goes out with its 8-bit alpha, as QEMU sends it: a FramebufferUpdate of one rectangle (x, y the hotspot),
// the S32 encoding Raw, then width*height little-endian 0xAARRGGBB words, alpha premultiplied as the guest's cursor
// (DRM ARGB8888) is. It is written after each update libvncserver sent to the client (on the client's output
// thread, so it follows that update's RichCursor and wins), whenever the cursor changed since that client's last.

enum { CURSOR_WITH_ALPHA_ENCODING = -314 };
static int alpha_cursor_encodings[] = { CURSOR_WITH_ALPHA_ENCODING, 0 };
struct alpha_cursor_client { unsigned long sent; };   // the cursor_generation last written to the client

static rfbBool enable_alpha_cursor(rfbClientPtr client, void **data, int encoding) {
    (void)client;
    if (encoding != CURSOR_WITH_ALPHA_ENCODING) return FALSE;
    if (*data == NULL) *data = calloc(1, sizeof(struct alpha_cursor_client));   // freed by close_alpha_cursor
    return *data != NULL;
}

static void close_alpha_cursor(rfbClientPtr client, void *data) {
    (void)client;
    free(data);
}

static rfbProtocolExtension alpha_cursor_extension = {
    .pseudoEncodings = alpha_cursor_encodings,
    .enablePseudoEncoding = enable_alpha_cursor,
    .close = close_alpha_cursor,
};

void vireo_vnc_register_alpha_cursor_extension(void) {
    static atomic_int registered;
    if (atomic_exchange(&registered, 1)) return;
    rfbRegisterProtocolExtension(&alpha_cursor_extension);
}

void vireo_vnc_send_alpha_cursor(rfbClientPtr client) {
    struct alpha_cursor_client *state = rfbGetExtensionClientData(client, &alpha_cursor_extension);
    // A client that lists -314 without a cursor shape encoding gets the cursor composited by libvncserver instead.
    if (!state || !client->enableCursorShapeUpdates) return;
    unsigned long generation = atomic_load(&cursor_generation);
    if (state->sent == generation) return;
    rfbScreenInfoPtr screen = client->screen;
    LOCK(screen->cursorMutex);
    rfbCursorPtr cursor = screen->cursor;
    int complete = cursor && cursor->richSource && cursor->alphaSource;
    size_t width = complete ? cursor->width : 0, height = complete ? cursor->height : 0;
    size_t pixels = width * height;   // at most 65535^2: the size_t product cannot overflow on 64-bit
    size_t length = 4 + 12 + 4 + pixels * 4;
    unsigned char *message = malloc(length);
    if (message) {
        unsigned char header[20] = { rfbFramebufferUpdate, 0, 0, 1 };
        uint16_t fields[4] = { Swap16IfLE(complete ? cursor->xhot : 0), Swap16IfLE(complete ? cursor->yhot : 0),
                               Swap16IfLE((uint16_t)width), Swap16IfLE((uint16_t)height) };
        memcpy(header + 4, fields, 8);
        uint32_t encoding = Swap32IfLE((uint32_t)CURSOR_WITH_ALPHA_ENCODING), raw = Swap32IfLE((uint32_t)rfbEncodingRaw);
        memcpy(header + 12, &encoding, 4);
        memcpy(header + 16, &raw, 4);
        memcpy(message, header, 20);
        for (size_t i = 0; i < pixels; i++) {
            // richSource is R,G,B,X (libvncserver's default format); the wire wants B,G,R,A.
            message[20 + i * 4 + 0] = cursor->richSource[i * 4 + 2];
            message[20 + i * 4 + 1] = cursor->richSource[i * 4 + 1];
            message[20 + i * 4 + 2] = cursor->richSource[i * 4 + 0];
            message[20 + i * 4 + 3] = cursor->alphaSource[i];
        }
    }
    UNLOCK(screen->cursorMutex);
    if (!message) return;
    // One write: rfbWriteExact holds the client's output lock for all of it, and this runs after libvncserver's
    // update was written completely, so nothing can interleave.
    if (rfbWriteExact(client, (const char *)message, (int)length) < 0) rfbLogPerror("cursor with alpha");
    else {
        state->sent = generation;
        rfbLog("Cursor with alpha %zux%zu sent to %s\n", width, height, client->host);
    }
    free(message);
}

// ---- clients ----------------------------------------------------------------------------------------------------

const char *vireo_vnc_client_host(rfbClientPtr client) { return client->host ? client->host : "?"; }

void *vireo_vnc_client_context(rfbClientPtr client) { return client->screen->screenData; }

static long monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void vireo_vnc_note_client_start(rfbClientPtr client) {
    // Stored as a number, not a pointer to memory: nothing to free when the client goes.
    client->clientData = (void *)(intptr_t)monotonic_ms();
}

int vireo_vnc_drop_stalled_handshakes(rfbScreenInfoPtr screen, long max_ms) {
    int dropped = 0;
    long now = monotonic_ms();
    ITERATING_CLIENTS_BEGIN;
    rfbClientIteratorPtr iterator = rfbGetClientIterator(screen);
    rfbClientPtr client;
    while ((client = rfbClientIteratorNext(iterator))) {
        long started = (long)(intptr_t)client->clientData;
        if (client->state == RFB_NORMAL || started == 0 || now - started < max_ms || client->sock < 0) continue;
        // Only shut the socket down: the client's own thread sees the end and closes it in order.
        rfbLog("Client %s did not finish the handshake in %ld ms; closing it\n", client->host, max_ms);
        shutdown(client->sock, SHUT_RDWR);
        client->clientData = NULL;
        dropped++;
    }
    rfbReleaseClientIterator(iterator);
    ITERATING_CLIENTS_END;
    return dropped;
}

void vireo_vnc_block_async_signals(void) {
    sigset_t set;
    sigfillset(&set);
    // Faults stay deliverable; everything else (SIGCHLD, SIGTERM, ...) is for the threads that wait for it.
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    sigdelset(&set, SIGABRT);
    sigdelset(&set, SIGTRAP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void vireo_vnc_disconnect_all(rfbScreenInfoPtr screen) {
    ITERATING_CLIENTS_BEGIN;
    rfbClientIteratorPtr iterator = rfbGetClientIterator(screen);
    rfbClientPtr client;
    while ((client = rfbClientIteratorNext(iterator))) {
        if (client->sock >= 0) shutdown(client->sock, SHUT_RDWR);
    }
    rfbReleaseClientIterator(iterator);
    ITERATING_CLIENTS_END;
}

int vireo_vnc_adopt_client(rfbScreenInfoPtr screen, int socket) {
    // rfbNewClient puts the client in the list, then waits up to 100 ms for a WebSocket or TLS client to speak
    // first; when that fails it frees the client without any gone-hook. So it runs with the guard held
    // exclusively: no iteration of ours can reach the client meanwhile. Waiting for the client's first bytes here,
    // outside the guard, makes that short for WebSocket and TLS clients (plain RFB clients wait for the server).
    struct pollfd first_bytes = { .fd = socket, .events = POLLIN };
    (void)poll(&first_bytes, 1, 100);
    pthread_rwlock_wrlock(&client_list_guard);
    rfbClientPtr client = rfbNewClient(screen, socket);
    if (client && !client->onHold) rfbStartOnHoldClient(client);
    pthread_rwlock_unlock(&client_list_guard);
    return client ? 1 : 0;
}
