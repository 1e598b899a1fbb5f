#!/usr/bin/env bash
# fetch-qemu10.sh: owns a private QEMU 10 (bookworm-backports) unpacked in the cache, never installed system-wide.
#
# Why: QEMU 7.2 (bookworm) refuses vhost-user devices without KVM ("vhost initialization failed: requires
# kvm"), and this project's CI runs the guest under TCG.
#
# Usage: scripts/fetch-qemu10.sh           prints the path of qemu-system-x86_64
#        scripts/fetch-qemu10.sh --env     prints shell assignments (QEMU10_BIN, QEMU10_FIRMWARE,
#                                          QEMU_MODULE_DIR, QEMU10_VHOST_USER_GPU, QEMU10_VERSION) to eval
# Env:   VIREO_CACHE (default /var/cache/vireo), VIREO_QEMU10_VERSION (pin a Debian version string)
# Run QEMU as: "$QEMU10_BIN" -L "$QEMU10_FIRMWARE" ... with QEMU_MODULE_DIR exported (its device modules).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/lib/common.sh"

mode=path
case "${1:-}" in
    --env) mode="env" ;;
    "" ) ;;
    *) echo "usage: $0 [--env]" >&2; exit 2 ;;
esac

fetch() {
    vireo_private_apt
    local ver="${VIREO_QEMU10_VERSION:-$(vireo_apt_version_in qemu-system-x86 bookworm-backports)}"
    [[ "$ver" == *:10.* || "$ver" == 10.* ]] || vireo_die "no QEMU 10 in bookworm-backports (found '${ver}')"
    local dir="${VIREO_CACHE}/qemu10/${ver//[:~+]/_}"
    if [[ ! -f "${dir}/ready" ]]; then
        vireo_log "fetching QEMU ${ver} into ${dir}"
        rm -rf "${dir}/root" "${dir}/firmware"
        local p
        # The frontend, its modules (virtio-gpu devices are modules in Debian), its data (linuxboot_dma.bin,
        # kvmvapic.bin), and the peer backend vhost-user-gpu from -gui.
        for p in qemu-system-x86 qemu-system-common qemu-system-data qemu-system-gui; do
            vireo_apt_download "$p" "$ver" "${dir}/debs"
        done
        # Firmware: QEMU 10 depends on seabios >> 1.16.3 (backports) and any ipxe-qemu (bookworm).
        local sb ipxe
        sb="$(vireo_apt_version_in seabios bookworm-backports)"
        [[ -n "$sb" ]] || sb="$(vireo_apt_version_in seabios bookworm)"
        ipxe="$(vireo_apt_version_in ipxe-qemu bookworm)"
        vireo_apt_download seabios "$sb" "${dir}/debs"
        vireo_apt_download ipxe-qemu "$ipxe" "${dir}/debs"
        local deb
        for deb in "${dir}"/debs/*.deb; do
            dpkg -x "$deb" "${dir}/root"
        done
        # One -L folder: Debian builds QEMU with a firmware path of /usr/share/qemu:/usr/share/seabios:
        # /usr/lib/ipxe/qemu, which would find the system's (possibly absent or 7.2) files. Copy (not link)
        # so dangling absolute symlinks inside the packages cannot leak to the host's /usr.
        mkdir -p "${dir}/firmware"
        local src
        for src in "${dir}/root/usr/lib/ipxe/qemu" "${dir}/root/usr/share/seabios" "${dir}/root/usr/share/qemu"; do
            [[ -d "$src" ]] && cp -rL --remove-destination "$src"/. "${dir}/firmware/" 2>/dev/null || true
        done
        [[ -f "${dir}/firmware/bios-256k.bin" ]] || vireo_die "bios-256k.bin missing from ${dir}/firmware"
        [[ -f "${dir}/firmware/linuxboot_dma.bin" ]] || vireo_die "linuxboot_dma.bin missing from ${dir}/firmware"
        local missing
        missing="$(ldd "${dir}/root/usr/bin/qemu-system-x86_64" "${dir}/root/usr/lib/qemu/vhost-user-gpu" \
                   "${dir}/root/usr/lib/x86_64-linux-gnu/qemu/"hw-display-virtio-gpu*.so 2>/dev/null | grep 'not found' || true)"
        [[ -z "$missing" ]] || vireo_die "QEMU 10 needs libraries this system lacks (run scripts/install-deps.sh):
${missing}"
        "${dir}/root/usr/bin/qemu-system-x86_64" -L "${dir}/firmware" --version | head -n1 >&2
        echo "$ver" > "${dir}/ready"
    fi
    ln -sfn "$(basename "$dir")" "${VIREO_CACHE}/qemu10/current"
}

vireo_locked qemu10 fetch

dir="${VIREO_CACHE}/qemu10/current"
dir="$(cd "$dir" && pwd -P)"
bin="${dir}/root/usr/bin/qemu-system-x86_64"
if [[ "$mode" == env ]]; then
    printf 'QEMU10_VERSION=%q\n' "$(cat "${dir}/ready")"
    printf 'QEMU10_BIN=%q\n' "$bin"
    printf 'QEMU10_FIRMWARE=%q\n' "${dir}/firmware"
    printf 'QEMU_MODULE_DIR=%q\n' "${dir}/root/usr/lib/x86_64-linux-gnu/qemu"
    printf 'QEMU10_VHOST_USER_GPU=%q\n' "${dir}/root/usr/lib/qemu/vhost-user-gpu"
    echo 'export QEMU_MODULE_DIR'
else
    echo "$bin"
fi
