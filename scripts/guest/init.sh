#!/bin/busybox sh
# shellcheck shell=dash
# init.sh: owns the guest's PID 1 (copied to /init in the initramfs): load virtio-gpu, draw, report on ttyS0.
#
# Serial protocol (one marker per line, each ending in a fixed token, because bytes arrive one by one):
#   VIREO-GUEST boot kernel=K ok                 init started
#   VIREO-GUEST fb name=N size=W,H stride=S end  framebuffer geometry from sysfs
#   VIREO-GUEST iommu=LIST,none end              IOMMUs in /sys/class/iommu (just "none" without one)
#   VIREO-GUEST error=WHAT ... end               something the harness should fail on
#   VIREO-GUEST phase=1 ready                    whole frame written (one write)
#   VIREO-GUEST phase=2 ready                    damage rectangles written, after the host sent "next"
#   VIREO-GUEST input-caps ev=E abs=A rel=R led=L end   its capability bitmaps (hex, from sysfs)
#   VIREO-GUEST input=eventN ready               a virtio-input device is there; its key events are echoed as
#   VIREO-GUEST key code=C value=V end           one line per EV_KEY event (evdev code, 1 down, 0 up, 2 repeat)
#   VIREO-GUEST flip size=WxH frames=N seconds=S end   /bin/flip's summary after "animate"
#   VIREO-GUEST animate tag=T done               "animate" finished (or found no /bin/flip: an error marker first)
# Host commands (one line each): "next" (phase 2, once), "faults" (print the IOMMU faults the kernel logged as
#   "VIREO-GUEST iommu-fault ... end" lines, then "VIREO-GUEST faults done"), "animate SECONDS [INTERVAL_MS [TAG]]"
#   (page-flip four full-screen pictures with /bin/flip, which scripts/bench-vnc.sh adds to the initramfs),
#   "poweroff".
# Kernel argument vireo.fb=W,H: the framebuffer size to expect (default 1280,800, QEMU's default display).
/bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

# Talk on ttyS0 directly: markers and commands must not depend on which device the console is.
exec 0<>/dev/ttyS0 1>&0 2>&0
stty -echo 2>/dev/null || true   # the host's "next" would otherwise be echoed into the log
dmesg -n 1                       # kernel messages interleaved mid-line would break the markers

echo "VIREO-GUEST boot kernel=$(uname -r) ok"

# Modules in dependency order (build-guest.sh resolved modules.dep).
while read -r m; do
    insmod "/lib/modules/$m" || echo "VIREO-GUEST error=insmod module=$m end"
done < /etc/vireo-modules

i=0
while [ ! -e /dev/fb0 ] && [ "$i" -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -e /dev/fb0 ]; then
    echo "VIREO-GUEST error=no-fb0 end"
    dmesg | tail -n 30
    poweroff -f
fi

# Keep the text console off the picture.
for v in /sys/class/vtconsole/vtcon*; do
    case "$(cat "$v/name" 2>/dev/null)" in
        *"frame buffer"*) echo 0 > "$v/bind" ;;
    esac
done
echo 0 > /sys/class/graphics/fbcon/cursor_blink 2>/dev/null || true

size="$(cat /sys/class/graphics/fb0/virtual_size)"
stride="$(cat /sys/class/graphics/fb0/stride)"
name="$(cat /sys/class/graphics/fb0/name)"
echo "VIREO-GUEST fb name=$name size=$size stride=$stride end"
# Which IOMMU the guest found (none, or virtio-iommu behind -device virtio-iommu-pci), for IOMMU tests.
echo "VIREO-GUEST iommu=$(ls /sys/class/iommu 2>/dev/null | tr '\n' ',')none end"
want=1280,800
read -r cmdline < /proc/cmdline
for arg in $cmdline; do
    case "$arg" in vireo.fb=*) want="${arg#vireo.fb=}" ;; esac
done
if [ "$size" != "$want" ] || [ "$stride" != "$(( ${want%,*} * 4 ))" ]; then
    echo "VIREO-GUEST error=geometry size=$size stride=$stride want=$want end"
fi

# A virtio-input device (virtio id 18, e.g. QEMU's vhost-user-input-pci): echo its key events on the serial
# line, one struct input_event (24 bytes on x86_64: timeval, type, code, value) per read.
echo_input() {
    while :; do
        # shellcheck disable=SC2046 # twelve numbers on purpose
        set -- $(dd bs=24 count=1 2>/dev/null | od -An -v -tu2)
        if [ $# -lt 12 ]; then sleep 1; continue; fi
        if [ "$9" = 1 ]; then echo "VIREO-GUEST key code=${10} value=${11} end"; fi
    done < "/dev/input/$1"
}
if grep -qx 0x0012 /sys/bus/virtio/devices/*/device 2>/dev/null; then
    ev=""
    i=0
    while [ -z "$ev" ] && [ "$i" -lt 50 ]; do
        for e in /sys/class/input/event*; do
            case "$(cat "$e/device/name" 2>/dev/null)" in
                *[Vv]ireo*|*[Vv]irt[Ii][Oo]*) ev="${e##*/}" ;;
            esac
        done
        [ -n "$ev" ] || sleep 0.1
        i=$((i + 1))
    done
    if [ -n "$ev" ] && [ -e "/dev/input/$ev" ]; then
        caps="/sys/class/input/$ev/device/capabilities"
        echo "VIREO-GUEST input-caps ev=$(cat "$caps/ev") abs=$(cat "$caps/abs") rel=$(cat "$caps/rel") led=$(cat "$caps/led") end"
        echo_input "$ev" &
        echo "VIREO-GUEST input=$ev ready"
    else
        echo "VIREO-GUEST error=no-input-event-device end"
    fi
fi

sh /pattern.sh frame /dev/fb0 && echo "VIREO-GUEST phase=1 ready"

phase2_done=0
while read -r line; do
    case "$line" in
        next)
            if [ "$phase2_done" = 0 ]; then
                sh /pattern.sh damage /dev/fb0 && echo "VIREO-GUEST phase=2 ready"
                phase2_done=1
            fi
            ;;
        faults)
            # The IOMMU faults the guest's virtio-iommu driver logged (Linux: "... fault from EP N at 0x...").
            dmesg | grep 'fault from EP' | sed 's/^.*\] //; s/^/VIREO-GUEST iommu-fault /; s/$/ end/'
            echo "VIREO-GUEST faults done"
            ;;
        animate*)
            # shellcheck disable=SC2086 # seconds and interval as separate words
            set -- ${line#animate}
            if [ -x /bin/flip ]; then
                /bin/flip "${1:-10}" "${2:-0}"
            else
                echo "VIREO-GUEST error=no-flip-program end"
            fi
            echo "VIREO-GUEST animate tag=${3:-0} done"
            ;;
        poweroff) poweroff -f ;;
    esac
done
# stdin closed: stay alive (PID 1 must not exit), the harness kills QEMU.
while :; do sleep 3600; done
