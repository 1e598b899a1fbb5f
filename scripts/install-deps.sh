#!/usr/bin/env bash
# install-deps.sh: owns the Debian packages Vireo needs at build and test time (idempotent, root).
set -euo pipefail

# ---- Package list: add what the project needs here (one per line, Debian bookworm names) ----
VIREO_APT_PACKAGES=(
    pkg-config
    libpng-dev
    qemu-system-x86      # QEMU 7.2 frontend (the e2e harness uses QEMU 10 from scripts/fetch-qemu10.sh)
    qemu-system-gui      # gives the peer backend /usr/lib/qemu/vhost-user-gpu
    busybox-static       # guest userland, and the host-side pattern generator (identical output by construction)
    cpio                 # initramfs packing
    gzip
    xz-utils             # 6.12 kernel modules are .ko.xz
    zstd
    netpbm               # pngtopnm for comparing PNGs
    socat                # serial console and QMP sockets
    curl                 # backends' HTTP APIs
    python3              # pixel comparison in tests/e2e/lib.sh
    ca-certificates
    debian-archive-keyring  # private apt configs (bookworm-backports) verify with it
    procps               # pgrep/ps in teardown diagnostics
    kmod                 # depmod: Debian kernel packages ship no modules.dep
    libvncserver-dev     # VNC export (CVNCServer / DisplayVNC); libvncserver 0.9.14 with WebSockets and GnuTLS
    gvncviewer           # gvnccapture: pixel-exact PNG pictures of the VNC export in tests
    vncsnapshot          # a second VNC client in tests (JPEG)
    openssl              # DES for VNC authentication in the raw RFB test client; test TLS certificates
    tigervnc-viewer      # xtigervncviewer under Xvfb: a password and a resize in tests
    xvfb                 # X server for the viewer tests
    novnc                # noVNC served to headless Chromium over WebSocket in tests
    chromium             # headless browser for the noVNC test
)
# ----------------------------------------------------------------------------------------------

if [[ ${EUID} -ne 0 ]]; then
    echo "install-deps.sh: must run as root (apt-get install)" >&2
    exit 1
fi

missing=()
for pkg in "${VIREO_APT_PACKAGES[@]}"; do
    # dpkg-query prints "install ok installed" only for fully installed packages.
    if [[ "$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)" != "install ok installed" ]]; then
        missing+=("${pkg}")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#VIREO_APT_PACKAGES[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A fresh CI machine may have empty lists; an update is cheap next to a failed install.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
