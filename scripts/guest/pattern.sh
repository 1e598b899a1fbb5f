#!/bin/sh
# pattern.sh: owns the guest test picture; the same POSIX sh (busybox) draws it in the guest and on the host.
#
# Usage: pattern.sh frame TARGET     phase 1: write the whole 1280x800 B8G8R8X8 frame to TARGET in ONE write
#        pattern.sh damage TARGET    phase 2: overwrite three rectangles in TARGET with partial-row writes
# TARGET is /dev/fb0 in the guest or a regular file on the host. Run it with busybox sh on both sides:
# only shell builtins and busybox applets are used, so the bytes are identical by construction.
#
# Frame layout (stride 5120, bytes per pixel B,G,R,X with X=0):
#   rows   0..399  eight colour bars, 160 px each: white yellow cyan green magenta red blue black
#   rows 400..599  four 50-row ramps, value x/5 (0..255): red, green, blue, grey (catch swaps and x offsets)
#   rows 600..699  1-px alternating columns 12,34,56 / a9,cb,ed (RGB) (catch odd pixel offsets)
#   rows 700..799  eight bars of mixed channels, all three channels distinct (catch any permutation)
# Phase 2 rectangles (odd origins, one touching the bottom edge) exercise sub-rectangle damage.
set -eu

W=1280
H=800
STRIDE=5120
T="${PATTERN_TMP:-/tmp}/vireo-pattern.$$"

# px R G B: sets P to the printf escapes of one B,G,R,X pixel. 1000+octal, minus the leading 1, gives
# three zero-padded octal digits without forking a subshell (the guest runs under slow TCG).
px() {
    b=$(( 1000 + ($3 / 64) * 100 + ($3 / 8 % 8) * 10 + $3 % 8 ))
    g=$(( 1000 + ($2 / 64) * 100 + ($2 / 8 % 8) * 10 + $2 % 8 ))
    r=$(( 1000 + ($1 / 64) * 100 + ($1 / 8 % 8) * 10 + $1 % 8 ))
    P="\\${b#1}\\${g#1}\\${r#1}\\000"
}

# run R G B N: appends N copies of pixel (R,G,B) to the printf format in F.
run() {
    px "$1" "$2" "$3"
    i=0
    while [ "$i" -lt "$4" ]; do F="$F$P"; i=$((i + 1)); done
}

# repeat SRC N DST: DST = SRC concatenated N times, by doubling (log2 N cats instead of N).
repeat() {
    cp "$1" "$T.acc"
    : > "$3"
    n=$2
    while [ "$n" -gt 0 ]; do
        if [ $((n % 2)) -eq 1 ]; then cat "$T.acc" >> "$3"; fi
        n=$((n / 2))
        if [ "$n" -gt 0 ]; then cat "$T.acc" "$T.acc" > "$T.dbl"; mv "$T.dbl" "$T.acc"; fi
    done
    rm -f "$T.acc"
}

# rows FORMAT N: appends N rows made of the one-row printf FORMAT to the frame file.
rows() {
    printf "$1" > "$T.row"
    repeat "$T.row" "$2" "$T.rows"
    cat "$T.rows" >> "$T.frame"
}

frame() {
    : > "$T.frame"
    # Colour bars (R G B).
    F=""
    for c in "255 255 255" "255 255 0" "0 255 255" "0 255 0" "255 0 255" "255 0 0" "0 0 255" "0 0 0"; do
        # shellcheck disable=SC2086 # word splitting of the triple is the point
        run $c 160
    done
    rows "$F" 400
    # Ramps: 256 steps of 5 px.
    for ch in r g b grey; do
        F=""
        v=0
        while [ "$v" -lt 256 ]; do
            case $ch in
                r) run "$v" 0 0 5 ;;
                g) run 0 "$v" 0 5 ;;
                b) run 0 0 "$v" 5 ;;
                grey) run "$v" "$v" "$v" 5 ;;
            esac
            v=$((v + 1))
        done
        rows "$F" 50
    done
    # Alternating columns.
    px 18 52 86; a=$P
    px 169 203 237; b=$P
    F=""
    i=0
    while [ "$i" -lt $((W / 2)) ]; do F="$F$a$b"; i=$((i + 1)); done
    rows "$F" 100
    # Mixed-channel bars.
    F=""
    for c in "32 64 128" "128 32 64" "64 128 32" "200 100 50" "50 200 100" "100 50 200" "17 34 51" "240 15 120"; do
        # shellcheck disable=SC2086
        run $c 160
    done
    rows "$F" 100
}

# rect X Y W H R G B TARGET: writes the rectangle one partial row at a time, each row a single write().
# Never a write that ends at a scanline's end: the kernel turns it into empty damage (see below).
rect() {
    F=""
    run "$5" "$6" "$7" "$3"
    printf "$F" > "$T.rect"
    y=$2
    while [ "$y" -lt $(($2 + $4)) ]; do
        dd if="$T.rect" of="$8" bs=$(($3 * 4)) count=1 seek=$((y * STRIDE + $1 * 4)) \
            oflag=seek_bytes conv=notrunc 2>/dev/null
        y=$((y + 1))
    done
}

cleanup() { rm -f "$T".*; }
trap cleanup EXIT

case "${1:-}" in
    frame)
        frame
        # One dd block = one write() of the whole frame.
        dd if="$T.frame" of="$2" bs=$((STRIDE * H)) count=1 conv=notrunc 2>/dev/null
        ;;
    damage)
        rect 37 53 64 40 255 128 0 "$2"
        rect 601 311 150 57 0 128 255 "$2"
        # Ends one pixel short of the right edge: a single-line write that ends exactly at the end of a
        # scanline gives empty damage in Linux 6.1/6.12 (x2 = end % line_length = 0), so it is never flushed.
        rect 1200 733 79 67 128 255 128 "$2"
        ;;
    *)
        echo "usage: pattern.sh frame|damage TARGET" >&2
        exit 2
        ;;
esac
