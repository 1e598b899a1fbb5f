#!/usr/bin/env bash
# Example: QEMU with vireo-gpu as its vhost-user GPU backend (the drop-in for /usr/lib/qemu/vhost-user-gpu).
# Guest RAM must be a shared memfd (share=on) with -m equal to its size, or the backend never sees the guest's
# writes. Vireo's HTTP API serves PNG screenshots; QEMU's QMP screendump also works (through the side channel).
set -euo pipefail
SOCK=${SOCK:-/run/vireo/vm1-gpu.sock}
mkdir -p "$(dirname "$SOCK")"
vireo-gpu --socket-path "$SOCK" --http 127.0.0.1:8080 --memory-quota 256 &
while [[ ! -S "$SOCK" ]]; do sleep 0.1; done
exec qemu-system-x86_64 -machine q35,accel=kvm:tcg,memory-backend=mem -m 2G -smp 2 \
  -object memory-backend-memfd,id=mem,size=2G,share=on \
  -chardev socket,id=vgpu,path="$SOCK" -device vhost-user-gpu-pci,chardev=vgpu \
  -vga none -display none -qmp unix:/run/vireo/vm1-qmp.sock,server=on,wait=off \
  -drive file=disk.qcow2,if=virtio "$@"
