# common.sh: owns the cache folder layout and the private apt config shared by the fetch/build scripts.
# Sourced, not executed. Callers set -euo pipefail themselves.

# shellcheck shell=bash
VIREO_CACHE="${VIREO_CACHE:-/var/cache/vireo}"
# Private apt lists are refreshed at most this often (seconds): repeated CI runs stay offline-fast.
VIREO_APT_MAX_AGE="${VIREO_APT_MAX_AGE:-86400}"

vireo_log() { echo "[$(basename "$0")] $*" >&2; }
vireo_die() { echo "[$(basename "$0")] ERROR: $*" >&2; exit 1; }

# Prints the first URI of the system's apt sources that serves SUITE (deb822 .sources or one-line format),
# so the private config uses the same (possibly snapshot/proxy) mirror the machine is allowed to reach.
vireo_mirror_for_suite() {
    local suite="$1" f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        # Stanzas are separated by blank lines; match a stanza whose Suites field names SUITE exactly.
        awk -v suite="$suite" '
            BEGIN { RS=""; FS="\n" }
            {
                uri=""; hit=0; enabled=1
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/)    { split($i, a, /[ \t]+/); uri=a[2] }
                    if ($i ~ /^Suites:/)  { n=split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) hit=1 }
                    if ($i ~ /^Enabled:[ \t]*no/) enabled=0
                }
                if (hit && enabled && uri != "") { print uri; exit }
            }' "$f"
    done | head -n1 | grep . && return 0
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        # "deb [opts] URI SUITE comps": strip the optional [..] block, then match the suite field.
        sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }'
    done | head -n1 | grep . && return 0
    return 1
}

# Sets VIREO_APT_OPTS (array) to a private apt config under $VIREO_CACHE/apt that sees bookworm,
# bookworm-updates, bookworm-security and bookworm-backports, without touching the system's sources,
# lists or package cache. Refreshes the lists when missing or older than VIREO_APT_MAX_AGE.
vireo_private_apt() {
    local root="${VIREO_CACHE}/apt"
    local main_uri sec_uri
    main_uri="${VIREO_DEBIAN_MIRROR:-$(vireo_mirror_for_suite bookworm || echo http://deb.debian.org/debian)}"
    sec_uri="${VIREO_DEBIAN_SECURITY_MIRROR:-$(vireo_mirror_for_suite bookworm-security || echo http://deb.debian.org/debian-security)}"
    mkdir -p "${root}/lists/partial" "${root}/cache/archives/partial"
    cat > "${root}/sources.sources.new" <<SRC
Types: deb
URIs: ${main_uri}
Suites: bookworm bookworm-updates bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${sec_uri}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    # A changed mirror invalidates the lists.
    if ! cmp -s "${root}/sources.sources.new" "${root}/sources.sources" 2>/dev/null; then
        mv "${root}/sources.sources.new" "${root}/sources.sources"
        rm -f "${root}/lists/stamp"
    else
        rm -f "${root}/sources.sources.new"
    fi
    VIREO_APT_OPTS=(
        -o "Dir::Etc::sourcelist=${root}/sources.sources"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=${root}/lists"
        -o "Dir::Cache=${root}/cache"          # keep the system's pkgcache.bin untouched
        -o "APT::Sandbox::User=root"          # downloads land in folders _apt cannot write
        -o "Debug::NoLocking=1"               # we hold our own flock; do not contend with the system's apt
    )
    local stamp="${root}/lists/stamp" now age
    now=$(date +%s)
    age=$(( now - $(stat -c %Y "$stamp" 2>/dev/null || echo 0) ))
    if (( age > VIREO_APT_MAX_AGE )); then
        vireo_log "refreshing private apt lists (bookworm*, ${main_uri})"
        if apt-get "${VIREO_APT_OPTS[@]}" update -qq >/dev/null 2>"${root}/update.log"; then
            touch "$stamp"
        elif ls "${root}/lists/"*Packages* >/dev/null 2>&1; then
            vireo_log "apt-get update failed; using the cached lists (see ${root}/update.log)"
        else
            cat "${root}/update.log" >&2
            vireo_die "apt-get update of the private config failed"
        fi
    fi
}

# Prints the newest version of PACKAGE that the private config's SUITE offers (empty if none).
vireo_apt_version_in() {
    local pkg="$1" suite="$2"
    apt-cache "${VIREO_APT_OPTS[@]}" madison "$pkg" 2>/dev/null \
        | awk -F'|' -v suite="$suite" '{ gsub(/ /, "", $2); if ($3 ~ (" " suite "/")) print $2 }' \
        | sort -V -r | head -n1
}

# Downloads PACKAGE=VERSION into DIR (kept as the cache of .debs) unless it is already there.
vireo_apt_download() {
    local pkg="$1" ver="$2" dir="$3"
    mkdir -p "$dir"
    # Debian encodes the epoch colon as %3a in file names and drops the epoch altogether.
    local fver="${ver#*:}"
    if compgen -G "${dir}/${pkg}_${fver}_*.deb" >/dev/null; then
        return 0
    fi
    (cd "$dir" && apt-get "${VIREO_APT_OPTS[@]}" download -qq "${pkg}=${ver}" >/dev/null) \
        || vireo_die "apt-get download ${pkg}=${ver} failed"
}

# Runs "$@" while holding an exclusive lock on NAME in the cache, so concurrent CI jobs do not race.
vireo_locked() {
    local name="$1"; shift
    mkdir -p "${VIREO_CACHE}/locks"
    (
        flock -w 900 9 || vireo_die "timed out waiting for lock ${name}"
        "$@"
    ) 9>"${VIREO_CACHE}/locks/${name}.lock"
}
