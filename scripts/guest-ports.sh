# Sourced by the scripts that run inside the QEMU guest.
# The guest runs no udev (its coldplug settle took 300 s under TCG), so
# nothing makes the /dev/virtio-ports/ links through which virtme-ng-init
# connects a script's stdin, stdout and stderr to vng and hands its exit
# status back. virtme-ng-init looks for them before it starts the
# script, finds none and runs it on the console, which vng does not
# show: a guest script writes what it must show to a file under a
# --rwdir directory, which the host prints, and makes the links here so
# that virtme-ng-init finds virtme.ret when the script has ended.
if [ ! -e /dev/virtio-ports ]; then
	mkdir -p /dev/virtio-ports
	for port in /sys/class/virtio-ports/*; do
		[ -r "$port/name" ] || continue
		ln -sf "/dev/${port##*/}" "/dev/virtio-ports/$(cat "$port/name")"
	done
fi
