#!/bin/busybox sh
# PID 1 of the test guests (tests/vm, tests/interop): mount, load the vfio modules a modular
# kernel needs, run the tests.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /run /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
arg() { sed -n "s/.*$1=\([a-z0-9_,]*\).*/\1/p" /proc/cmdline; }
mode=$(arg uvfio.iommu)
auto=$(arg uvfio.auto)
echo
echo "uvfio-vm| kernel $(uname -r), path $mode"
if [ -f /modules/order ]; then
	for m in $(cat /modules/order); do
		insmod "/modules/$m" || echo "uvfio-vm| insmod $m failed"
	done
fi
# uvfio.tests=kernel,mdev picks which guest_*.c programs run (default both); uvfio.test=NAME
# runs /bin/NAME alone (a guest of another harness using this init). Each program prints its
# own "N passed, N failed"; run.sh wants one per "run" line.
test=$(arg uvfio.test)
progs=$(arg uvfio.tests | tr , '\n' | sed 's/^/guest_/')
for p in ${test:-${progs:-guest_kernel guest_mdev}}; do
	echo "uvfio-vm| run $p"
	"/bin/$p" "$mode" "$auto" 2>&1 | sed 's/^/uvfio-vm| /'
done
echo "uvfio-vm| done"
poweroff -f
