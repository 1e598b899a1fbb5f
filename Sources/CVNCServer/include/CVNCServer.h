// CVNCServer: what Swift cannot reach in libvncserver 0.9.14 directly (macros, variadic log globals, TRUE/FALSE,
// locks behind macros) plus the RFB wire bits of QEMU's extended key event. No policy lives here.
#ifndef CVNCSERVER_H
#define CVNCSERVER_H

#include <rfb/rfb.h>
#include <stdint.h>

static const rfbBool VIREO_RFB_TRUE = TRUE;
static const rfbBool VIREO_RFB_FALSE = FALSE;

/// Where libvncserver's rfbLog / rfbErr lines go (one formatted line, no trailing newline). Process-wide.
typedef void (*vireo_vnc_log_handler)(int is_error, const char *line);
void vireo_vnc_set_log_handler(vireo_vnc_log_handler handler);

/// libvncserver calls that iterate clients, under the client list guard (see vnc_shim.c): use these, not the
/// rfb functions, from the exporter's threads.
void vireo_vnc_mark_modified(rfbScreenInfoPtr screen, int x1, int y1, int x2, int y2);
void vireo_vnc_new_framebuffer(rfbScreenInfoPtr screen, char *framebuffer, int width, int height);
/// To be called first in every clientGoneHook: waits until no iteration that could reach the client runs.
void vireo_vnc_client_gone_barrier(void);

/// rfbInitServer is a macro in rfb.h.
void vireo_vnc_init_server(rfbScreenInfoPtr screen);

/// Locks out libvncserver's cursor compositing (rfbShowCursor / rfbHideCursor write the framebuffer under it)
/// while the exporter writes the framebuffer.
void vireo_vnc_lock_framebuffer(rfbScreenInfoPtr screen);
void vireo_vnc_unlock_framebuffer(rfbScreenInfoPtr screen);

/// Copies `width` x `height` B,G,R,X pixels (rows `source_stride` bytes apart) to (x, y) of the screen's R,G,B,X
/// framebuffer, writing only pixels that differ. Returns 0 when none did, else 1 with the bounding box of those
/// that did in `changed` (x1, y1, x2, y2; exclusive ends). The caller clips.
int vireo_vnc_copy_bgrx(rfbScreenInfoPtr screen, int x, int y, int width, int height,
                        const uint8_t *source, size_t source_stride, int changed[4]);

/// Keeps the exporter's framebuffer copies out of libvncserver's sends (see vnc_shim.c). A send holds it from the
/// screen's displayHook to its displayFinishedHook; a copy waits up to `max_ms` for sends in progress (returns 1
/// when it got the lock; 0: it copies anyway, and that send may mix two frames, as without the guard).
typedef struct vireo_vnc_frame_guard vireo_vnc_frame_guard;
vireo_vnc_frame_guard *vireo_vnc_frame_guard_new(void);
void vireo_vnc_frame_guard_enter_send(vireo_vnc_frame_guard *guard);
void vireo_vnc_frame_guard_leave_send(vireo_vnc_frame_guard *guard);
int vireo_vnc_frame_guard_lock_copy(vireo_vnc_frame_guard *guard, long max_ms);
void vireo_vnc_frame_guard_unlock_copy(vireo_vnc_frame_guard *guard);

/// Like vireo_vnc_copy_bgrx, but writes only when the framebuffer differs from `source`; returns 1 when it did.
/// Used to repair the area under the cursor after libvncserver composited it for a client (see VNCServer).
int vireo_vnc_repair_bgrx(rfbScreenInfoPtr screen, int x, int y, int width, int height,
                          const uint8_t *source, size_t source_stride);

/// Marks [x1,x2) x [y1,y2) modified only for clients that take the cursor as a shape (not composited).
void vireo_vnc_mark_modified_for_cursor_clients(rfbScreenInfoPtr screen, int x1, int y1, int x2, int y2);

/// Makes a cursor from `width` x `height` B,G,R,A pixels (straight alpha): a rich cursor with an alpha channel for
/// libvncserver's compositing and a 1-bit mask for clients that only take a cursor shape. NULL pixels: no cursor.
/// The screen owns the cursor (freed when replaced).
void vireo_vnc_set_cursor(rfbScreenInfoPtr screen, const uint8_t *bgra, int width, int height, int hot_x, int hot_y);

/// Moves the cursor position libvncserver composites at (clients without cursor encodings).
void vireo_vnc_move_cursor(rfbScreenInfoPtr screen, int x, int y);

/// Password authentication: libvncserver's DES challenge against `password` (its first 8 bytes count, as in
/// the RFB protocol). `gate` runs before the check (returns 0 to refuse without checking: the caller may sleep
/// there to slow guessing) and after it with the result (1 accepted, 0 refused). NULL password: no auth.
typedef int (*vireo_vnc_auth_gate)(rfbClientPtr client, int phase, int accepted);
enum { VIREO_VNC_AUTH_BEFORE = 0, VIREO_VNC_AUTH_AFTER = 1 };
void vireo_vnc_set_password(rfbScreenInfoPtr screen, const char *password, vireo_vnc_auth_gate gate);

/// QEMU's extended key event (pseudo-encoding -258, client message 255 subtype 0). Registered once per process;
/// the handler gets the client, the XT scancode (0xe0-prefixed keys as 0xe0XX), the keysym and down.
typedef void (*vireo_vnc_scancode_handler)(rfbClientPtr client, uint32_t scancode, uint32_t keysym, int down);
void vireo_vnc_register_qemu_key_extension(vireo_vnc_scancode_handler handler);
/// Cursor With Alpha (-314): registered once per process; `send` runs after each update sent to a client (the
/// screen's displayFinishedHook) and writes the cursor with its alpha when it changed since that client's last.
void vireo_vnc_register_alpha_cursor_extension(void);
void vireo_vnc_send_alpha_cursor(rfbClientPtr client);

/// The client's peer address as libvncserver recorded it (never NULL).
const char *vireo_vnc_client_host(rfbClientPtr client);
/// The screen a client belongs to, and the exporter's context pointer stored on it.
void *vireo_vnc_client_context(rfbClientPtr client);

/// Records when a client connected (in its clientData), for vireo_vnc_drop_stalled_handshakes.
void vireo_vnc_note_client_start(rfbClientPtr client);

/// Shuts down the sockets of clients still in the handshake (version, security, ClientInit) after `max_ms`:
/// in threaded mode libvncserver waits for a silent client forever. Returns how many were dropped.
int vireo_vnc_drop_stalled_handshakes(rfbScreenInfoPtr screen, long max_ms);

/// Blocks asynchronous signals in the calling thread, and so in the threads it starts (libvncserver's client
/// threads): libvncserver's select() calls give up on EINTR, which would drop a client in its handshake.
void vireo_vnc_block_async_signals(void);

/// Ends every client's connection (each client's own threads then close it and leave). Unlike
/// rfbShutdownServer this neither joins client threads nor iterates outside the client list guard.
void vireo_vnc_disconnect_all(rfbScreenInfoPtr screen);

/// Starts libvncserver's threads for a client accepted on a socket the exporter owns (the WebSocket port):
/// rfbNewClient does the WebSocket/TLS handshake. Returns 0 when the client was refused.
int vireo_vnc_adopt_client(rfbScreenInfoPtr screen, int socket);

#endif
