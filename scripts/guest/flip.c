// flip.c: the VNC benchmark's guest program (scripts/bench-vnc.sh). Shows four full-screen desktop-like pictures
// in turn by DRM page flips on /dev/dri/card0, waiting for each flip's completion event, for N seconds.
// Every pixel differs between any two pictures (a server that only sends changed tiles still sends them all);
// four, not two, so a viewer sampling the screen rarely sees the same picture twice in a row by aliasing.
// A 16-pixel stripe on the left edge tells them apart: red, blue, green, yellow, in the order their buffers
// (and so their virtio-gpu resource ids) are created.
// Raw DRM ioctls with the uapi structs written out here, so it builds with only a libc (no libdrm, no kernel
// headers). Built statically at benchmark time and added to the initramfs; init.sh runs it on "animate".
// Usage: flip SECONDS [INTERVAL_MS]   prints "flip: WxH frames=N fps=F" when done
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

// drm_mode.h layouts (kernel uapi ABI) and their ioctl numbers: _IOWR('d', nr, struct).
struct mode_info {
    uint32_t clock;
    uint16_t hdisplay, hsync_start, hsync_end, htotal, hskew;
    uint16_t vdisplay, vsync_start, vsync_end, vtotal, vscan;
    uint32_t vrefresh, flags, type;
    char name[32];
};
struct card_res {
    uint64_t fb_id_ptr, crtc_id_ptr, connector_id_ptr, encoder_id_ptr;
    uint32_t count_fbs, count_crtcs, count_connectors, count_encoders;
    uint32_t min_width, max_width, min_height, max_height;
};
struct get_connector {
    uint64_t encoders_ptr, modes_ptr, props_ptr, prop_values_ptr;
    uint32_t count_modes, count_props, count_encoders;
    uint32_t encoder_id, connector_id, connector_type, connector_type_id, connection;
    uint32_t mm_width, mm_height, subpixel, pad;
};
struct get_encoder { uint32_t encoder_id, encoder_type, crtc_id, possible_crtcs, possible_clones; };
struct crtc {
    uint64_t set_connectors_ptr;
    uint32_t count_connectors, crtc_id, fb_id, x, y, gamma_size, mode_valid;
    struct mode_info mode;
};
struct create_dumb { uint32_t height, width, bpp, flags, handle, pitch; uint64_t size; };
struct map_dumb { uint32_t handle, pad; uint64_t offset; };
struct fb_cmd { uint32_t fb_id, width, height, pitch, bpp, depth, handle; };
struct page_flip { uint32_t crtc_id, fb_id, flags, reserved; uint64_t user_data; };
struct drm_event { uint32_t type, length; };

#define IOWR(nr, type) _IOWR('d', nr, type)
#define SET_MASTER _IO('d', 0x1e)
#define GETRESOURCES IOWR(0xA0, struct card_res)
#define GETCRTC IOWR(0xA1, struct crtc)
#define SETCRTC IOWR(0xA2, struct crtc)
#define GETENCODER IOWR(0xA6, struct get_encoder)
#define GETCONNECTOR IOWR(0xA7, struct get_connector)
#define ADDFB IOWR(0xAE, struct fb_cmd)
#define PAGE_FLIP IOWR(0xB0, struct page_flip)
#define CREATE_DUMB IOWR(0xB2, struct create_dumb)
#define MAP_DUMB IOWR(0xB3, struct map_dumb)
#define PAGE_FLIP_EVENT 0x01
#define EVENT_FLIP_COMPLETE 0x02

static int fd;

static void die(const char *what) {
    printf("VIREO-GUEST error=flip what=%s errno=%d end\n", what, errno);
    exit(1);
}

static void xioctl(unsigned long request, void *arg, const char *what) {
    while (ioctl(fd, request, arg) != 0) {
        if (errno != EINTR && errno != EAGAIN) die(what);
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

#define PICTURES 4

// A desktop: background, title bar, a window with lines of "text". Every colour differs between variants.
static void draw(uint32_t *p, uint32_t pitch, uint32_t w, uint32_t h, int variant) {
    static const uint32_t bgs[] = {0x604030, 0x305070, 0x406040, 0x503060};
    static const uint32_t bars[] = {0x202020, 0x383838, 0x283040, 0x402828};
    static const uint32_t wins[] = {0xf0f0f0, 0xe4e8ec, 0xf8f0e0, 0xe8f4e8};
    static const uint32_t inks[] = {0x101010, 0x102040, 0x402010, 0x104010};
    static const uint32_t marks[] = {0xff0000, 0x0000ff, 0x00ff00, 0xffff00};
    uint32_t bg = bgs[variant], bar = bars[variant], win = wins[variant], ink = inks[variant], mark = marks[variant];
    uint32_t left = 200 + variant * 40;
    for (uint32_t y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)((char *)p + (size_t)y * pitch);
        for (uint32_t x = 0; x < w; x++) {
            uint32_t c = y < 28 ? bar : bg;
            if (x > left && x + 300 < w && y > 120 && y + 140 < h) {
                c = win;
                if ((y / 18) % 2 == 0 && (y % 18) < 12 && ((x * 7 + y * 3 + variant * 11) % 23) < 14) c = ink;
            }
            if (x < 16) c = mark;
            row[x] = c;
        }
    }
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    double interval = argc > 2 ? atof(argv[2]) / 1000 : 0;
    fd = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
    if (fd < 0) die("open");
    ioctl(fd, SET_MASTER, 0);   // the first opener is master already; fbdev emulation then stays off the screen

    uint32_t crtcs[8], connectors[8];
    struct card_res res = {0};
    xioctl(GETRESOURCES, &res, "getresources");
    if (res.count_crtcs == 0 || res.count_connectors == 0) die("no-crtc");
    if (res.count_crtcs > 8) res.count_crtcs = 8;
    if (res.count_connectors > 8) res.count_connectors = 8;
    res.crtc_id_ptr = (uintptr_t)crtcs;
    res.connector_id_ptr = (uintptr_t)connectors;
    res.count_fbs = res.count_encoders = 0;
    xioctl(GETRESOURCES, &res, "getresources");

    // The first connector's preferred (first) mode, on its encoder's CRTC (or the first CRTC).
    static struct mode_info modes[256];
    struct get_connector conn = {0};
    conn.connector_id = connectors[0];
    xioctl(GETCONNECTOR, &conn, "getconnector");
    if (conn.count_modes == 0) die("no-modes");
    if (conn.count_modes > 256) conn.count_modes = 256;
    conn.modes_ptr = (uintptr_t)modes;
    conn.count_props = conn.count_encoders = 0;
    xioctl(GETCONNECTOR, &conn, "getconnector");
    struct mode_info mode = modes[0];
    for (uint32_t i = 0; i < conn.count_modes; i++) {
        if (modes[i].type & (1 << 3)) { mode = modes[i]; break; }   // DRM_MODE_TYPE_PREFERRED
    }
    uint32_t crtc_id = crtcs[0];
    if (conn.encoder_id) {
        struct get_encoder enc = {.encoder_id = conn.encoder_id};
        if (ioctl(fd, GETENCODER, &enc) == 0 && enc.crtc_id) crtc_id = enc.crtc_id;
    }
    uint32_t w = mode.hdisplay, h = mode.vdisplay;

    uint32_t fb[PICTURES];
    for (int i = 0; i < PICTURES; i++) {
        struct create_dumb cd = {.width = w, .height = h, .bpp = 32};
        xioctl(CREATE_DUMB, &cd, "create-dumb");
        struct fb_cmd f = {.width = w, .height = h, .pitch = cd.pitch, .bpp = 32, .depth = 24, .handle = cd.handle};
        xioctl(ADDFB, &f, "addfb");
        fb[i] = f.fb_id;
        struct map_dumb md = {.handle = cd.handle};
        xioctl(MAP_DUMB, &md, "map-dumb");
        void *p = mmap(0, cd.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)md.offset);
        if (p == MAP_FAILED) die("mmap");
        draw(p, cd.pitch, w, h, i);
        munmap(p, cd.size);
    }

    struct crtc set = {.set_connectors_ptr = (uintptr_t)&connectors[0], .count_connectors = 1,
                       .crtc_id = crtc_id, .fb_id = fb[0], .mode_valid = 1, .mode = mode};
    xioctl(SETCRTC, &set, "setcrtc");

    unsigned frames = 0;
    double t0 = now(), next = t0;
    for (int shown = 0; now() - t0 < seconds; ) {
        if (interval > 0) {
            next += interval;
            double wait = next - now();
            if (wait > 0) usleep((useconds_t)(wait * 1e6));
        }
        shown = (shown + 1) % PICTURES;
        struct page_flip flip = {.crtc_id = crtc_id, .fb_id = fb[shown], .flags = PAGE_FLIP_EVENT};
        xioctl(PAGE_FLIP, &flip, "page-flip");
        // Wait for this flip's completion event before the next (a flip still pending is refused with EBUSY).
        for (int done = 0; !done; ) {
            char buf[1024];
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < (ssize_t)sizeof(struct drm_event)) die("read-event");
            for (ssize_t o = 0; o + (ssize_t)sizeof(struct drm_event) <= n; ) {
                struct drm_event *e = (struct drm_event *)(buf + o);
                if (e->type == EVENT_FLIP_COMPLETE) done = 1;
                if (e->length == 0) break;
                o += e->length;
            }
        }
        frames++;
    }
    double elapsed = now() - t0;
    printf("VIREO-GUEST flip size=%ux%u frames=%u seconds=%.2f end\n", w, h, frames, elapsed);
    return 0;
}
