#!/usr/bin/env bash
# build-guest.sh: owns the tiny test guest: a Debian kernel (downloaded, never installed) + busybox initramfs.
#
# Usage: scripts/guest/build-guest.sh [--kernel 6.1|6.12] [--print-paths]
#   --kernel 6.1   (default) bookworm's linux-image-amd64 (newest 6.1 in bookworm/-security)
#   --kernel 6.12  newest linux-image-6.12.*+deb12-amd64 (bookworm-security): has VIRTIO_IOMMU=m, so the
#                  initramfs also carries virtio-iommu and loads it before virtio-gpu
# Prints (stdout, eval-able):  VIREO_GUEST_KERNEL=/path/vmlinuz  VIREO_GUEST_INITRD=/path/initramfs.cpio.gz
#   --print-paths prints just the two paths, one per line.
# Env: VIREO_CACHE (default /var/cache/vireo). Cached per kernel version and per content of the guest scripts.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/../lib/common.sh"

kernel=6.1
print="env"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --kernel) kernel="${2:?--kernel needs 6.1 or 6.12}"; shift 2 ;;
        --kernel=*) kernel="${1#*=}"; shift ;;
        --print-paths) print=paths; shift ;;
        *) echo "usage: $0 [--kernel 6.1|6.12] [--print-paths]" >&2; exit 2 ;;
    esac
done

# Modules the guest asks for by name; modules.dep supplies the rest (virtio_ring, virtio, virtio_pci_*_dev,
# virtio_dma_buf, drm, drm_shmem_helper, drm_kms_helper, ...). virtio_input and evdev: a vhost-user input device
# (QEMU vhost-user-input-pci) appears as /dev/input/event*, which init.sh echoes on the serial line.
wanted=(virtio_pci virtio_gpu virtio_input evdev)
# Every module any --kernel mode asks for (the kernel cache keeps their closure).
all_wanted=(virtio_pci virtio_gpu virtio_iommu virtio_input evdev)
case "$kernel" in
    6.1) ;;
    6.12) wanted=(virtio_pci virtio_iommu virtio_gpu virtio_input evdev) ;;   # the IOMMU must probe before the GPU
    *) vireo_die "--kernel must be 6.1 or 6.12, not '${kernel}'" ;;
esac

# Picks the Debian package and version for the requested series.
resolve_kernel() {
    if [[ "$kernel" == 6.1 ]]; then
        local meta
        meta="$(apt-cache "${VIREO_APT_OPTS[@]}" madison linux-image-amd64 | awk -F'|' '{gsub(/ /,"",$2); print $2}' \
                | grep '^6\.1\.' | sort -V | tail -n1)"
        [[ -n "$meta" ]] || vireo_die "no 6.1 linux-image-amd64 in bookworm"
        kpkg="$(apt-cache "${VIREO_APT_OPTS[@]}" show "linux-image-amd64=${meta}" | sed -n 's/^Depends: *//p' \
                | tr ',' '\n' | grep -o 'linux-image-6\.1[^ ]*-amd64' | head -n1)"
    else
        kpkg="$(apt-cache "${VIREO_APT_OPTS[@]}" pkgnames linux-image-6.12. \
                | grep -E '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' | sort -V | tail -n1)"
    fi
    [[ -n "$kpkg" ]] || vireo_die "could not resolve a kernel package for ${kernel}"
    kver="$(apt-cache "${VIREO_APT_OPTS[@]}" madison "$kpkg" | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -V | tail -n1)"
}

# Keeps vmlinuz, modules.dep and the modules the guest could need; the full tree (~400 MB) is unpacked to a
# temporary folder only once per kernel version. Debian's package ships no modules.dep (postinst runs
# depmod), so depmod runs here on the unpacked tree.
fetch_kernel() {
    kdir="${VIREO_CACHE}/guest/${kpkg}_${kver//[:~+]/_}"
    local update=""
    if [[ -f "${kdir}/ready" ]]; then
        cache_has_all_modules && return 0
        # A cache made before more modules were wanted: add the missing ones, change nothing else (other runs
        # may be using this kernel and their initramfs right now).
        update=1
        vireo_log "adding modules to the cached ${kpkg} ${kver}"
    else
        vireo_log "fetching ${kpkg} ${kver}"
        rm -rf "${kdir}"
    fi
    mkdir -p "${kdir}/root/boot"
    local tmp deb kmods krel m
    tmp="$(mktemp -d "${VIREO_CACHE}/guest/unpack.XXXXXX")"
    vireo_apt_download "$kpkg" "$kver" "${tmp}/deb"
    deb="$(ls "${tmp}"/deb/*.deb)"
    dpkg -x "$deb" "${tmp}/root"
    kmods="$(find "${tmp}/root" -maxdepth 4 -type d -path '*/modules/*' -name '[0-9]*' | head -n1)"
    [[ -n "$kmods" ]] || vireo_die "no modules folder in ${deb}"
    krel="$(basename "$kmods")"
    # depmod -b wants BASE/lib/modules/KREL; Debian 12 packages use lib/, newer ones usr/lib/.
    depmod -b "${kmods%/lib/modules/*}" "$krel"
    if [[ -z "$update" ]]; then
        cp "${tmp}"/root/boot/vmlinuz-* "${kdir}/root/boot/"
        mkdir -p "${kdir}/root/modules"
        cp "${kmods}/modules.dep" "${kmods}/modules.builtin" "${kdir}/root/modules/"
    fi
    # Copy the closure of every module any --kernel mode asks for, keeping modules.dep's relative paths.
    moddir="$kmods"
    local save=("${wanted[@]}")
    wanted=("${all_wanted[@]}")
    resolve_modules optional
    wanted=("${save[@]}")
    for m in "${modlist[@]}"; do
        [[ -f "${kdir}/root/modules/${m}" ]] && continue
        mkdir -p "${kdir}/root/modules/$(dirname "$m")"
        cp "${kmods}/${m}" "${kdir}/root/modules/${m}.tmp"
        mv "${kdir}/root/modules/${m}.tmp" "${kdir}/root/modules/${m}"
    done
    rm -rf "$tmp"
    echo "${kpkg} ${kver} ${krel}" > "${kdir}/ready"
}

# True when the cached kernel has every module of all_wanted that the kernel has as a module.
cache_has_all_modules() {
    local n
    for n in "${all_wanted[@]}"; do
        grep -q "/${n//_/[-_]}\.ko[^:]*:" "${kdir}/root/modules/modules.dep" || continue   # built in, or absent
        [[ -n "$(find "${kdir}/root/modules" -name "${n//_/[-_]}.ko*" -print -quit)" ]] || return 1
    done
}

# Sets modlist (load order, deps first) from ${moddir}/modules.dep for the names in wanted.
# With "optional", a wanted module the kernel lacks is skipped instead of fatal.
resolve_modules() {
    local dep="${moddir}/modules.dep" optional="${1:-}"
    [[ -f "$dep" ]] || vireo_die "modules.dep missing in ${moddir}"
    declare -gA deps=() path_of=() seen=()
    local line mod rest n
    while IFS= read -r line; do
        mod="${line%%:*}"; rest="${line#*:}"
        n="${mod##*/}"; n="${n%%.ko*}"; n="${n//-/_}"
        path_of[$n]="$mod"; deps[$n]="$rest"
    done < "$dep"
    modlist=()
    visit() {
        local name="$1" d dn
        [[ -n "${seen[$name]:-}" ]] && return 0
        seen[$name]=1
        for d in ${deps[$name]}; do
            dn="${d##*/}"; dn="${dn%%.ko*}"; dn="${dn//-/_}"
            visit "$dn"
        done
        modlist+=("${path_of[$name]}")
    }
    for n in "${wanted[@]}"; do
        if [[ -n "${path_of[$n]:-}" ]]; then
            visit "$n"
        elif grep -q "/${n//_/[-_]}\.ko" "${moddir}/modules.builtin"; then
            :   # built into this kernel
        elif [[ -z "$optional" ]]; then
            vireo_die "module ${n} is neither in modules.dep nor built in (${kpkg})"
        fi
    done
}

build_initramfs() {
    local busybox key stage m base
    busybox="$(command -v busybox)" || vireo_die "busybox not found (scripts/install-deps.sh)"
    # Content key: any change to the guest scripts, the module set or busybox gives a new initramfs.
    key="$( { cat "${here}/init.sh" "${here}/pattern.sh"; printf '%s\n' "${modlist[@]}"; sha256sum "$busybox"; } \
            | sha256sum | cut -c1-16)"
    initrd="${kdir}/initramfs-${key}.cpio.gz"
    vmlinuz="$(ls "${kdir}"/root/boot/vmlinuz-* | head -n1)"
    [[ -f "$initrd" ]] && return 0
    vireo_log "building ${initrd}"
    stage="$(mktemp -d)"
    mkdir -p "${stage}"/{bin,dev,etc,lib/modules,proc,sys,tmp}
    cp "$busybox" "${stage}/bin/busybox"
    cp "${here}/init.sh" "${stage}/init"
    cp "${here}/pattern.sh" "${stage}/pattern.sh"
    chmod 755 "${stage}/init"
    # The kernel opens /dev/console before /init runs; without the node init starts with no stdio.
    mknod -m 600 "${stage}/dev/console" c 5 1 2>/dev/null || true
    : > "${stage}/etc/vireo-modules"
    for m in "${modlist[@]}"; do
        base="$(basename "$m")"
        case "$base" in
            *.ko.xz)  xz -dc "${moddir}/${m}" > "${stage}/lib/modules/${base%.xz}"; base="${base%.xz}" ;;
            *.ko.zst) zstd -qdc "${moddir}/${m}" > "${stage}/lib/modules/${base%.zst}"; base="${base%.zst}" ;;
            *.ko)     cp "${moddir}/${m}" "${stage}/lib/modules/${base}" ;;
            *) vireo_die "unknown module format ${base}" ;;
        esac
        echo "$base" >> "${stage}/etc/vireo-modules"
    done
    (cd "$stage" && find . -print0 | sort -z | cpio --null -o -H newc --quiet | gzip -9n) > "${initrd}.tmp"
    mv "${initrd}.tmp" "$initrd"
    vireo_log "modules: $(tr '\n' ' ' < "${stage}/etc/vireo-modules")"
    rm -rf "$stage"
}

build() {
    vireo_private_apt
    resolve_kernel
    fetch_kernel
    moddir="${kdir}/root/modules"
    resolve_modules
    build_initramfs
    {
        echo "$vmlinuz"
        echo "$initrd"
    } > "${VIREO_CACHE}/guest/.last-${kernel}"
}

mkdir -p "${VIREO_CACHE}/guest"
vireo_locked guest build
{ read -r vmlinuz; read -r initrd; } < "${VIREO_CACHE}/guest/.last-${kernel}"
if [[ "$print" == paths ]]; then
    echo "$vmlinuz"
    echo "$initrd"
else
    printf 'VIREO_GUEST_KERNEL=%q\n' "$vmlinuz"
    printf 'VIREO_GUEST_INITRD=%q\n' "$initrd"
fi
