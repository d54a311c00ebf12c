#!/bin/busybox sh
# PID 1 of the test guests (tests/vm, tests/interop): mount, load the vfio modules a modular
# kernel needs, run the tests.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /run /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
arg() { sed -n "s/.*$1=\([a-z0-9_]*\).*/\1/p" /proc/cmdline; }
mode=$(arg uvfio.iommu)
auto=$(arg uvfio.auto)
# uvfio.test=NAME runs /bin/NAME instead (tests/interop's guest uses this same init).
test=$(arg uvfio.test)
echo
echo "uvfio-vm| kernel $(uname -r), path $mode"
if [ -f /modules/order ]; then
	for m in $(cat /modules/order); do
		insmod "/modules/$m" || echo "uvfio-vm| insmod $m failed"
	done
fi
"/bin/${test:-guest_kernel}" "$mode" "$auto" 2>&1 | sed 's/^/uvfio-vm| /'
echo "uvfio-vm| done"
poweroff -f
