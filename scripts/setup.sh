#!/usr/bin/env bash
# Install every tool the build, boot and test steps need. Idempotent and
# quiet when everything is already there.
set -euo pipefail

DEB_PKGS=(
	linux-source-6.12
	clang-22 lld-22 llvm-22 libclang-22-dev
	rustc-web rust-web-src rust-web-clippy
	qemu-system-x86 udev
	ccache make flex bison bc cpio kmod pahole
	libelf-dev libssl-dev
	python3-pip python3-ply python3-git rsync busybox-static
	gcc libc6-dev
)
BINDGEN_VERSION=0.73.2
VNG_VERSION=1.42

missing=()
for p in "${DEB_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing Debian packages: ${missing[*]}"
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
fi

BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
if ! "$BINDGEN" --version 2>/dev/null | grep -q "bindgen $BINDGEN_VERSION"; then
	echo "setup: installing bindgen-cli $BINDGEN_VERSION"
	cargo install --quiet --locked bindgen-cli --version "$BINDGEN_VERSION"
fi

if ! command -v vng >/dev/null 2>&1; then
	echo "setup: installing virtme-ng $VNG_VERSION"
	python3 -m pip install --quiet "virtme-ng==$VNG_VERSION"
fi
exit 0
