# Shared by ci/xen/build.sh and ci/xen/boot-test.sh (sourced, not run).
#
# Pinned inputs (docs/XEN.md says why each is pinned), the build cache layout, and a private
# apt state so that fetching Debian sources and packages neither depends on nor changes the
# machine's apt configuration (third-party repositories that fail to refresh, a deb-src entry
# that someone else removes, a missing bookworm-backports suite).

# Xen: the bookworm point-release source; bookworm-security's newer version has no source
# on the mirror.
XEN_DEB_VERSION=4.17.5+72-g01140da4e8-1
XEN_UPSTREAM_VERSION=4.17.5+72-g01140da4e8
# dom0: kernel, toolstack (same version as the Xen source), busybox for the rest.
DOM0_KERNEL_ABI=6.1.0-50-amd64
DOM0_KERNEL_VERSION=6.1.176-1
BUSYBOX_VERSION=1:1.35.0-4+deb12u1+b1
YAJL_VERSION=2.1.0-3+deb12u2
# Debian's QEMU 7.2 crashes PV guests (upstream bug #1382, fixed in 8.0): use backports'.
QEMU_MIN_MAJOR=8

xen_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Everything fetched or built lives here (gitignored); delete it for a clean run.
cache=${XDBT_BUILD_CACHE:-$xen_root/build-cache}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# XDBT_XEN_CONFIG=pv32: a second Xen, built with CONFIG_PV32=y (native 32-bit PV compiled in),
# in its own tree and output directory; the boot test then asks for translation with
# "pv32-translate". Default: Xen's defconfig (CONFIG_PV32=n).
case "${XDBT_XEN_CONFIG:-defconfig}" in
defconfig) xen_dir=$cache/xen out_dir=$cache/out ;;
pv32) xen_dir=$cache/xen-pv32 out_dir=$cache/out-pv32 ;;
*) echo "XDBT_XEN_CONFIG must be defconfig or pv32" >&2; exit 2 ;;
esac

log() { echo "[$(date +%H:%M:%S)] $*"; }
die() {
    echo "error: $*" >&2
    exit 1
}

# apt-get / apt-cache on a private state under $cache/apt: Debian main, updates, security
# and backports, binary and source, amd64 only.
aptdir=$cache/apt
apt_opts=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$aptdir/etc"
    -o "Dir::State::Lists=$aptdir/lists"
    -o "Dir::Cache=$aptdir/cache"
    -o "APT::Architectures::=amd64"
    -o "APT::Architecture=amd64"
    -o "Acquire::Retries=3"
    # Files land in build-cache/, which apt's unprivileged download user may not reach.
    -o "APT::Sandbox::User=root"
)
xapt() { apt-get "${apt_opts[@]}" "$@"; }
xapt_cache() { apt-cache "${apt_opts[@]}" "$@"; }

# Refresh the private package lists when missing or older than a day.
xapt_update() {
    mkdir -p "$aptdir/etc" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
    cat >"$aptdir/etc/debian.sources" <<'EOF'
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    local stamp=$aptdir/updated
    if [ -f "$stamp" ] && [ -n "$(find "$stamp" -mmin -1440)" ]; then
        return 0
    fi
    log "apt: refreshing the package lists in $aptdir"
    if xapt -qq update; then
        touch "$stamp"
    elif ls "$aptdir"/lists/*_Packages* >/dev/null 2>&1; then
        log "apt: refresh failed; using the lists from the last refresh"
    else
        die "cannot fetch Debian package lists"
    fi
}

# Download pinned .deb files (name=version ...) into $cache/debs unless already there.
fetch_debs() {
    local dir=$cache/debs want=() spec name ver file
    mkdir -p "$dir"
    chmod 755 "$dir" # apt's download user
    for spec in "$@"; do
        name=${spec%%=*}
        ver=${spec#*=}
        # apt names files with the epoch's colon escaped.
        file="$dir/${name}_${ver//:/%3a}_amd64.deb"
        [ -f "$file" ] || want+=("$spec")
    done
    [ ${#want[@]} -eq 0 ] && return 0
    xapt_update
    log "apt: downloading ${want[*]}"
    (cd "$dir" && xapt -qq download "${want[@]}") || die "cannot download ${want[*]}"
}

deb_file() { # name version
    echo "$cache/debs/${1}_${2//:/%3a}_amd64.deb"
}

# Install host packages that are missing (Debian's own repositories only).
need_host_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    xapt_update
    log "apt: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive xapt install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null || die "cannot install ${missing[*]}"
}
