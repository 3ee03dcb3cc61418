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
	gcc libc6-dev git iproute2
)
BINDGEN_VERSION=0.73.2
VNG_VERSION=1.42

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# Never let apt remove a package the machine has: fail instead.
apt_install() {
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends --no-remove "$@" >/dev/null
}

missing=()
for p in "${DEB_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done

# QEMU comes as one version: machines of this kind carry qemu-utils
# (qemu-img) from bookworm-backports, which the release's qemu-system-x86
# would replace. Take qemu-system-x86 from backports then.
qemu_from=
if [[ " ${missing[*]} " == *" qemu-system-x86 "* ]] &&
	dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q '~bpo'; then
	. /etc/os-release
	qemu_from=$VERSION_CODENAME-backports
	missing=("${missing[@]/qemu-system-x86}")
	list=/etc/apt/sources.list.d/$qemu_from.list
	if ! grep -rqs "$qemu_from" /etc/apt/sources.list /etc/apt/sources.list.d; then
		echo "setup: adding $qemu_from to apt's sources ($list)"
		echo "deb http://deb.debian.org/debian $qemu_from main" |
			$SUDO tee "$list" >/dev/null
	fi
fi

read -ra missing <<<"${missing[*]}"
if [ ${#missing[@]} -gt 0 ] || [ -n "$qemu_from" ]; then
	echo "setup: installing Debian packages: ${missing[*]}" \
		"${qemu_from:+qemu-system-x86 (from $qemu_from)}"
	$SUDO apt-get update -qq
	[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
	[ -z "$qemu_from" ] || apt_install -t "$qemu_from" qemu-system-x86
fi

BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
if ! "$BINDGEN" --version 2>/dev/null | grep -q "bindgen $BINDGEN_VERSION"; then
	echo "setup: installing bindgen-cli $BINDGEN_VERSION"
	cargo install --quiet --locked bindgen-cli --version "$BINDGEN_VERSION"
fi

if ! vng --version 2>/dev/null | grep -qx "virtme-ng $VNG_VERSION"; then
	echo "setup: installing virtme-ng $VNG_VERSION"
	python3 -m pip install --quiet "virtme-ng==$VNG_VERSION"
fi
exit 0
