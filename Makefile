# uvfio: `make demo` and `make check` are all a new user needs.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
TSAN_BUILD ?= build-tsan
MESON_TEST = meson test --print-errorlogs --num-processes 2
# Guest/interop tests that cannot run for want of an asset are listed here for check's summary.
export UVFIO_NOT_RUN_FILE ?= $(abspath $(BUILD))/not-run.txt

.PHONY: all deps build demo check check-unit check-asan check-tsan check-vm check-interop vm-assets bench fuzz clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	@scripts/demo.sh $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

check-unit: build
	$(MESON_TEST) -C $(BUILD)

check-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(MESON_TEST) -C $(ASAN_BUILD)

# ThreadSanitizer over the tests in meson suite 'threads' (listed in tests/unit/meson.build and
# tests/integration/meson.build), built with gcc (the tests' packed wire structs need no clang
# warning exceptions). Suppressions, each with its reason: tests/tsan.supp. -Wno-tsan: TSan does
# not model standalone fences, which order the NVMe queues in guest memory (as a device across
# the bus would see them); gcc warns about each, TSan judges those accesses without them.
$(TSAN_BUILD)/build.ninja:
	CC=gcc meson setup $(TSAN_BUILD) -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug \
		-Dc_args=-Wno-tsan

check-tsan: deps $(TSAN_BUILD)/build.ninja
	ninja -C $(TSAN_BUILD)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
		$(MESON_TEST) -C $(TSAN_BUILD) --suite threads

check-vm: build
	@tests/vm/run.sh $(BUILD)

# QEMU 10.1+ on both ends of vfio-user (tests/interop/run.sh).
check-interop: build
	@tests/interop/run.sh $(BUILD)

# What the guest and interop tests need beyond Debian's packages (the 6.12 VFIO kernel, QEMU
# 10.2), built into ~/.cache/uvfio when not in ../shared: about an hour on 2 cores.
vm-assets:
	@scripts/assets.sh build

# The last lines say which tests did not run for want of an asset (CI=true: that fails instead).
check: check-unit check-asan check-tsan
	@rm -f $(UVFIO_NOT_RUN_FILE)
	@$(MAKE) --no-print-directory check-vm
	@$(MAKE) --no-print-directory check-interop
	@tests/fuzz/run.sh $(FUZZ_BUILD) smoke
	@scripts/assets.sh summary $(UVFIO_NOT_RUN_FILE)

bench: build
	@bench/run.sh $(BUILD)

fuzz: deps
	@tests/fuzz/run.sh $(FUZZ_BUILD) long

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD)
