#!/bin/sh
# Installs what msbd and msbctl bring beside their binaries, where the system looks for it:
# shell completions, man pages, the systemd units with their tmpfiles.d and sysusers.d
# snippets, and a sample config (only where none exists). With --bindir-from, the binaries
# too. DESTDIR stages everything under another root (for packages).
set -eu

usage() {
    cat <<'USAGE'
usage: contrib/install.sh [--prefix DIR] [--sysconfdir DIR] [--bindir-from DIR]

  --prefix DIR        where bin/, share/ and lib/ go [/usr/local]
  --sysconfdir DIR    where msbd/msbd.toml goes [/etc]
  --bindir-from DIR   also install DIR/msbd and DIR/msbctl (e.g. target/release)
  DESTDIR=ROOT        install under ROOT instead of / (the units still name PREFIX)
USAGE
}

prefix=/usr/local
sysconfdir=/etc
bindir_from=
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || { usage >&2; exit 2; }; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#*=}; shift ;;
        --sysconfdir) [ $# -ge 2 ] || { usage >&2; exit 2; }; sysconfdir=$2; shift 2 ;;
        --sysconfdir=*) sysconfdir=${1#*=}; shift ;;
        --bindir-from) [ $# -ge 2 ] || { usage >&2; exit 2; }; bindir_from=$2; shift 2 ;;
        --bindir-from=*) bindir_from=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
case $prefix in
    /*) ;;
    *) echo "install.sh: --prefix must be an absolute path, not '$prefix'" >&2; exit 2 ;;
esac

src=$(cd "$(dirname "$0")/.." && pwd)
root=${DESTDIR:-}

# put MODE SOURCE DEST: copies SOURCE to DEST under DESTDIR, making its directory.
put() {
    mkdir -p "$root$(dirname "$3")"
    cp "$2" "$root$3"
    chmod "$1" "$root$3"
    echo "installed $3"
}

if [ -n "$bindir_from" ]; then
    for bin in msbd msbctl; do
        [ -x "$bindir_from/$bin" ] || {
            echo "install.sh: $bindir_from/$bin is missing: build it first (cargo build --release)" >&2
            exit 1
        }
        put 0755 "$bindir_from/$bin" "$prefix/bin/$bin"
    done
fi

put 0644 "$src/completions/msbctl.bash" "$prefix/share/bash-completion/completions/msbctl"
put 0644 "$src/completions/_msbctl" "$prefix/share/zsh/site-functions/_msbctl"
put 0644 "$src/completions/msbctl.fish" "$prefix/share/fish/vendor_completions.d/msbctl.fish"

for page in "$src"/man/*.[1-8]; do
    [ -f "$page" ] || continue
    section=${page##*.}
    put 0644 "$page" "$prefix/share/man/man$section/$(basename "$page")"
done

# The units name the installed msbd.
units=$(mktemp -d)
trap 'rm -rf "$units"' EXIT
sed "s|^ExecStart=/usr/local/bin/msbd|ExecStart=$prefix/bin/msbd|" \
    "$src/contrib/systemd/msbd.service" >"$units/msbd.service"
put 0644 "$units/msbd.service" "$prefix/lib/systemd/system/msbd.service"
put 0644 "$src/contrib/systemd/msbd.socket" "$prefix/lib/systemd/system/msbd.socket"
put 0644 "$src/contrib/systemd/msbd.tmpfiles" "$prefix/lib/tmpfiles.d/msbd.conf"
put 0644 "$src/contrib/systemd/msbd.sysusers" "$prefix/lib/sysusers.d/msbd.conf"

# An operator's config is never overwritten.
if [ -f "$src/contrib/msbd.toml" ]; then
    if [ -e "$root$sysconfdir/msbd/msbd.toml" ]; then
        echo "kept $sysconfdir/msbd/msbd.toml (it exists)"
    else
        put 0644 "$src/contrib/msbd.toml" "$sysconfdir/msbd/msbd.toml"
    fi
fi

if [ -z "$root" ]; then
    cat <<NEXT

To run msbd under systemd:
  systemd-sysusers && systemd-tmpfiles --create msbd.conf
  systemctl daemon-reload && systemctl enable --now msbd.socket msbd.service
  usermod -aG msbd NAME    # lets NAME use msbctl
NEXT
fi
