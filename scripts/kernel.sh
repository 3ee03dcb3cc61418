#!/usr/bin/env bash
# Configure (tinyconfig + config/kernel.config) and build the tree.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no tree at $TREE: run 'make tree'"

cd "$TREE"
frag=$TOP/config/kernel.config
stamp=$TREE/.config-fragment.sha
# Reconfigure when the fragment or any Kconfig file changes.
want=$( (cat "$frag"; git ls-files -s -- '*Kconfig*') | sha256sum | cut -d' ' -f1)
if [ ! -f .config ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	echo "kernel: configuring (tinyconfig + config/kernel.config)"
	kmake tinyconfig >/dev/null
	KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config "$frag" >/dev/null
	kmake olddefconfig >/dev/null
	# Every option of the fragment must have survived olddefconfig.
	bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=n) opt=${line%%=*}
			grep -q "^$opt=" .config && { echo "kernel: $opt is set, wanted n" >&2; bad=1; } ;;
		CONFIG_*=*) grep -qxF "$line" .config || { echo "kernel: $line did not stick" >&2; bad=1; } ;;
		esac
	done <"$frag"
	[ $bad -eq 0 ] || die "the configuration lacks options of config/kernel.config"
	echo "$want" >"$stamp"
fi
echo "kernel: building (make -j$JOBS)"
# Rust doctest symbols too long for kallsyms are only skipped: quiet them.
kmake -j"$JOBS" "$@" 2> >(grep -v "KSYM_NAME_LEN\|^Symbol .* too long for kallsyms" >&2)
