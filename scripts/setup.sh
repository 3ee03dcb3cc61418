#!/usr/bin/env bash
# Install every tool the build, boot and test steps need. Idempotent and
# quiet when everything is already there.
set -euo pipefail

DEB_PKGS=(
	linux-source-6.12
	clang-22 lld-22 llvm-22 libclang-22-dev
	rustc-web rust-web-src rust-web-clippy cargo-web rustfmt-web
	qemu-system-x86
	ccache make flex bison bc cpio kmod pahole sparse
	libelf-dev libssl-dev
	python3 python3-venv python3-ply python3-git rsync busybox-static
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

# Debian's cargo (cargo-web, the same release as rustc-web) builds
# bindgen and, from lib.sh's PATH, the policy crate: one toolchain, not
# whatever rustup or the machine has.
CARGO=/usr/bin/cargo
BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
if ! "$BINDGEN" --version 2>/dev/null | grep -q "bindgen $BINDGEN_VERSION"; then
	echo "setup: installing bindgen-cli $BINDGEN_VERSION"
	RUSTC=/usr/bin/rustc "$CARGO" install --quiet --locked \
		--root "$(dirname "$(dirname "$BINDGEN")")" \
		bindgen-cli --version "$BINDGEN_VERSION"
fi

# virtme-ng in a virtual environment of Debian's Python: PEP 668 forbids
# pip installs into the system's, and no other Python is assumed. It sees
# Debian's Python packages too (python3-ply for checkpatch, ...), since
# lib.sh puts it first in PATH.
VENV=$(cd "$(dirname "$0")/.." && pwd)/build/venv
if ! "$VENV/bin/vng" --version 2>/dev/null | grep -qx "virtme-ng $VNG_VERSION" ||
	! grep -qx 'include-system-site-packages = true' "$VENV/pyvenv.cfg"; then
	echo "setup: installing virtme-ng $VNG_VERSION into $VENV"
	rm -rf "$VENV"
	/usr/bin/python3 -m venv --system-site-packages "$VENV"
	"$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check \
		"virtme-ng==$VNG_VERSION"
fi
exit 0
