#!/usr/bin/env python3
# bench-vnc-report.py: the table of scripts/bench-vnc.sh from its results folder (round*/SIDE-ENC-KIND.{txt,frames},
# SIDE-trace.log). Latency: a picture's receive time minus the time of the latest full-screen flush of that
# picture before it (Raw, where the viewer reads which picture it got), or of any picture (Zlib, ZRLE: the guest
# flips slowly enough in the latency run that one flush precedes each update). Usage: bench-vnc-report.py DIR ROUNDS
import os, re, statistics, sys

out, rounds = sys.argv[1], int(sys.argv[2])
sides = ["qemu", "vireo"]
encodings = sorted({f[len("qemu-"):-len("-fps.txt")] for f in os.listdir(os.path.join(out, "round1"))
                    if f.startswith("qemu-") and f.endswith("-fps.txt")}, key=lambda e: (e.split(":")[0] != "raw", e))
QEMU_RE = re.compile(r"@(\d+\.\d+):virtio_gpu_cmd_res_flush res 0x([0-9a-f]+), w (\d+), h (\d+)")
VIREO_RE = re.compile(r"^(\d+\.\d+) flush res=(\d+) x=\d+ y=\d+ w=(\d+) h=(\d+)")

def keyvalues(path):
    return dict(kv.split("=", 1) for kv in open(path).read().split())

def flushes(path, side):
    result = []
    for line in open(path, errors="replace"):
        m = (QEMU_RE.search(line) if side == "qemu" else VIREO_RE.match(line))
        if m:
            res = int(m.group(2), 16 if side == "qemu" else 10)
            result.append((float(m.group(1)), res, int(m.group(3)), int(m.group(4))))
    return result

def latencies(frames_path, trace, size):
    frames = [(float(t), int(p)) for t, p, _ in (l.split() for l in open(frames_path))]
    if not frames:
        return [], 0
    w, h = size
    window = [(t, res) for t, res, fw, fh in trace if fw == w and fh == h and frames[0][0] - 3 <= t <= frames[-1][0]]
    ids = sorted({res for _, res in window})[-4:]          # flip.c's four buffers, created in picture order
    picture_of = {res: i for i, res in enumerate(ids)}
    window = [(t, picture_of[res]) for t, res in window if res in picture_of]
    out_of_order = sum(1 for (_, a), (_, b) in zip(window, window[1:]) if b != (a + 1) % 4)
    result, used = [], set()
    for t, p in frames:
        candidates = [(ft, fp) for ft, fp in window if ft <= t and (p < 0 or fp == p)]
        if p == -2 or not candidates:
            continue
        flush = candidates[-1]
        if flush in used:                                  # the first arrival of a flushed picture only
            continue
        used.add(flush)
        result.append((t - flush[0]) * 1000)
    return result, out_of_order

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]

data = {}   # (side, enc) -> metric -> [per round]
notes = []
for r in range(1, rounds + 1):
    d = os.path.join(out, f"round{r}")
    for side in sides:
        trace = flushes(os.path.join(d, f"{side}-trace.log"), side)
        for enc in encodings:
            m = data.setdefault((side, enc), {})
            kv = keyvalues(os.path.join(d, f"{side}-{enc}-fps.txt"))
            size = tuple(int(x) for x in kv["size"].split("x"))
            m.setdefault("fps", []).append(float(kv["fps"]))
            m.setdefault("kib", []).append(int(kv["bytes_per_frame"]) / 1024)
            if kv["changes_per_s"] != "na":
                m.setdefault("changes", []).append(float(kv["changes_per_s"]))
            m.setdefault("torn", []).append(int(kv["torn"]))
            lat, disorder = latencies(os.path.join(d, f"{side}-{enc}-latency.frames"), trace, size)
            if disorder:
                notes.append(f"round {r} {side} {enc}: {disorder} flushes out of flip order (latency matching suspect)")
            if lat:
                m.setdefault("lat50", []).append(statistics.median(lat))
                m.setdefault("lat90", []).append(pct(lat, 0.9))
                m.setdefault("latmax", []).append(max(lat))
                m.setdefault("latn", []).append(len(lat))
        guest = open(os.path.join(d, f"{side}-guest.txt")).read().split("\n")
        rates = [re.search(r"frames=(\d+) seconds=([\d.]+)", l) for l in guest if l]
        data.setdefault((side, "guest"), {}).setdefault("flips", []).extend(
            int(x.group(1)) / float(x.group(2)) for x in rates[0::2] if x)

def cell(xs, fmt="%.1f"):
    if not xs:
        return "-"
    med = statistics.median(xs)
    return (fmt % med) + (f" ({fmt % min(xs)}–{fmt % max(xs)})" if len(xs) > 1 else "")

def name(enc):
    base, _, level = enc.partition(":")
    base = {"raw": "Raw", "zlib": "Zlib", "zrle": "ZRLE"}.get(base, base)
    return f"{base} (level {level} asked)" if level else base

def ratio(enc, key):
    a, b = data[("vireo", enc)].get(key), data[("qemu", enc)].get(key)
    if not a or not b or statistics.median(b) == 0:
        return "-"
    return "%.2fx" % (statistics.median(a) / statistics.median(b))

print(f"{rounds} round(s); median of the rounds (min–max); guest page-flips: "
      + ", ".join(f"{s} {statistics.median(data[(s, 'guest')]['flips']):.1f}/s" for s in sides if data[(s, 'guest')]['flips'])
      + " in the frames/s runs\n")
print("| encoding | server | frames/s | picture changes/s | KiB/frame | flush to viewer median (ms) | p90 (ms) | max (ms) | torn updates |")
print("|---|---|---|---|---|---|---|---|---|")
for enc in encodings:
    for side in sides:
        m = data[(side, enc)]
        print(f"| {name(enc)} | {'QEMU' if side == 'qemu' else 'Vireo'} | {cell(m['fps'])} | {cell(m.get('changes', []))} | "
              f"{cell(m['kib'])} | {cell(m.get('lat50', []))} | {cell(m.get('lat90', []))} | "
              f"{cell(m.get('latmax', []))} | {cell(m['torn'], '%d')} |")
    print(f"| {name(enc)} | Vireo ÷ QEMU | {ratio(enc, 'fps')} | {ratio(enc, 'changes')} | {ratio(enc, 'kib')} | "
          f"{ratio(enc, 'lat50')} | {ratio(enc, 'lat90')} | {ratio(enc, 'latmax')} | |")
for n in notes:
    print("\nnote: " + n)
