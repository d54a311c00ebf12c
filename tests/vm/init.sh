#!/bin/busybox sh
# PID 1 of the test guest: mount, load the vfio modules a modular kernel needs, run the tests.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /run /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
arg() { sed -n "s/.*$1=\([a-z0-9,]*\).*/\1/p" /proc/cmdline; }
mode=$(arg uvfio.iommu)
auto=$(arg uvfio.auto)
echo
echo "uvfio-vm| kernel $(uname -r), path $mode"
if [ -f /modules/order ]; then
	for m in $(cat /modules/order); do
		insmod "/modules/$m" || echo "uvfio-vm| insmod $m failed"
	done
fi
tests=$(arg uvfio.tests | tr , ' ')
# Each program prints its own "N passed, N failed"; run.sh wants one per "run" line.
for t in ${tests:-kernel mdev}; do
	echo "uvfio-vm| run guest_$t"
	"/bin/guest_$t" "$mode" "$auto" 2>&1 | sed 's/^/uvfio-vm| /'
done
echo "uvfio-vm| done"
poweroff -f
