#!/usr/bin/env bash
# The real `msb` of microsandbox 0.7.11, from its PyPI wheel (which ships the binary and its
# libkrunfw), unpacked into DIR: DIR/bin/msb, DIR/lib/libkrunfw.so.*. The msb backend's tests
# run against it. Does nothing where it is there already.
#   tests/msb/install.sh DIR
set -euo pipefail
dir=${1:?usage: install.sh DIR}
version=0.7.11
if [ -x "$dir/bin/msb" ] && "$dir/bin/msb" --version 2>/dev/null | grep -qx "msb $version"; then
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.10 \
    "microsandbox==$version" -d "$work"
wheel=$(ls "$work"/microsandbox-"$version"-*.whl)
python3 -m zipfile -e "$wheel" "$work/unpacked"
rm -rf "$dir.new"
mkdir -p "$dir.new"
cp -r "$work/unpacked/microsandbox/_bundled/bin" "$work/unpacked/microsandbox/_bundled/lib" "$dir.new/"
chmod +x "$dir.new/bin/msb"
rm -rf "$dir"
mv "$dir.new" "$dir"
"$dir/bin/msb" --version
