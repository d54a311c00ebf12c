/* SPDX-License-Identifier: MIT */
/*
 * vfio-user wire format (protocol 0.x as spoken by QEMU 10.x and libvfio-user). Host byte
 * order, packed. Payload offsets are from the end of the 16-byte header. Internal: devices and
 * the public API never see these.
 */
#ifndef UVFIO_VFIO_USER_WIRE_H
#define UVFIO_VFIO_USER_WIRE_H

#include <stdint.h>

#define VFU_MAJOR 0
#define VFU_MINOR 2 /* what we answer at most: libvfio-user's; QEMU proposes 0.0 */

enum vfu_command {
	VFU_CMD_VERSION = 1,
	VFU_CMD_DMA_MAP = 2,
	VFU_CMD_DMA_UNMAP = 3,
	VFU_CMD_DEVICE_GET_INFO = 4,
	VFU_CMD_DEVICE_GET_REGION_INFO = 5,
	VFU_CMD_DEVICE_GET_REGION_IO_FDS = 6,
	VFU_CMD_DEVICE_GET_IRQ_INFO = 7,
	VFU_CMD_DEVICE_SET_IRQS = 8,
	VFU_CMD_REGION_READ = 9,
	VFU_CMD_REGION_WRITE = 10,
	VFU_CMD_DMA_READ = 11,
	VFU_CMD_DMA_WRITE = 12,
	VFU_CMD_DEVICE_RESET = 13,
	VFU_CMD_DIRTY_PAGES = 14, /* removed in 0.9.2; number reserved */
	VFU_CMD_REGION_WRITE_MULTI = 15,
	VFU_CMD_DEVICE_FEATURE = 16,
	VFU_CMD_MIG_DATA_READ = 17,
	VFU_CMD_MIG_DATA_WRITE = 18,
	VFU_CMD_MAX,
};

#define VFU_F_TYPE_MASK 0xfu
#define VFU_F_TYPE_COMMAND 0x0u
#define VFU_F_TYPE_REPLY 0x1u
#define VFU_F_NO_REPLY 0x10u
#define VFU_F_ERROR 0x20u

/* Defaults when a peer does not state a capability (spec). */
#define VFU_DEFAULT_MAX_MSG_FDS 1u
#define VFU_DEFAULT_MAX_DATA_XFER (1u << 20)
#define VFU_DEFAULT_MAX_DMA_MAPS 65535u
#define VFU_DEFAULT_PGSIZES 4096u
/* uvfio extension: the max_data_xfer_size a uvfio client proposes under "uvfio" and a uvfio
 * server grants unless configured otherwise; other peers keep the spec's default. */
#define VFU_UVFIO_MAX_XFER (16u << 20)
/* What we advertise. QEMU rejects max_msg_fds > 16. */
#define VFU_OUR_MAX_MSG_FDS 16u
/* Hard cap on one message: the largest transfer plus its headers, and room for SET_IRQS. */
#define VFU_MAX_MSG_SIZE(xfer) ((uint64_t)(xfer) + 16u + 64u)

struct vfu_hdr {
	uint16_t msg_id;
	uint16_t cmd;
	uint32_t msg_size;
	uint32_t flags;
	uint32_t error_no;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_hdr) == 16, "vfu_hdr");

struct vfu_version {
	uint16_t major;
	uint16_t minor;
	char data[]; /* NUL-terminated JSON */
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_version) == 4, "vfu_version");

#define VFU_DMA_FLAG_READ (1u << 0)
#define VFU_DMA_FLAG_WRITE (1u << 1)
struct vfu_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t offset;
	uint64_t addr;
	uint64_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_dma_map) == 32, "vfu_dma_map");

#define VFU_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (1u << 0) /* 0.9.1 only: refused */
#define VFU_DMA_UNMAP_FLAG_ALL (1u << 1)
struct vfu_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t addr;
	uint64_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_dma_unmap) == 24, "vfu_dma_unmap");

struct vfu_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_device_info) == 16, "vfu_device_info");

struct vfu_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_region_info) == 32, "vfu_region_info");

struct vfu_cap_header {
	uint16_t id;
	uint16_t version;
	uint32_t next;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_cap_header) == 8, "vfu_cap_header");

struct vfu_sparse_mmap_area {
	uint64_t offset;
	uint64_t size;
} __attribute__((packed));

struct vfu_cap_sparse_mmap {
	struct vfu_cap_header hdr;
	uint32_t nr_areas;
	uint32_t reserved;
	struct vfu_sparse_mmap_area areas[];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_cap_sparse_mmap) == 16, "vfu_cap_sparse_mmap");

struct vfu_cap_type {
	struct vfu_cap_header hdr;
	uint32_t type;
	uint32_t subtype;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_cap_type) == 16, "vfu_cap_type");

struct vfu_region_io_fds_request {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_region_io_fds_request) == 16, "vfu_region_io_fds_request");

#define VFU_IO_FD_TYPE_IOEVENTFD 0u
struct vfu_sub_region_ioeventfd {
	uint64_t offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t padding;
	uint64_t datamatch;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_sub_region_ioeventfd) == 40, "vfu_sub_region_ioeventfd");

struct vfu_irq_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_irq_info) == 16, "vfu_irq_info");

struct vfu_irq_set {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t start;
	uint32_t count;
	uint8_t data[];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_irq_set) == 20, "vfu_irq_set");

struct vfu_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_region_access) == 16, "vfu_region_access");

/* Spec layout of DMA_READ/WRITE (server to client). QEMU 10.x differs (u32 count, data at 12):
 * see docs/protocol.md; we speak the spec. */
struct vfu_dma_access {
	uint64_t addr;
	uint64_t count;
	uint8_t data[];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_dma_access) == 16, "vfu_dma_access");

/* QEMU 10.x's VFIOUserDMARW after the header: a u32 count and the data at offset 12. QEMU checks
 * messages against the padded C struct (32 bytes with the header), so 4 bytes follow the data of
 * a DMA_WRITE request and of a DMA_READ reply; a DMA_WRITE reply is a bare header. */
struct vfu_qemu_dma_rw {
	uint64_t addr;
	uint32_t count;
	uint8_t data[];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_qemu_dma_rw) == 12, "vfu_qemu_dma_rw");
#define VFU_QEMU_DMA_PAD 4u

#define VFU_WRITE_MULTI_DATA 8u
#define VFU_WRITE_MULTI_MAX 200u
struct vfu_write_multi_entry {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[VFU_WRITE_MULTI_DATA];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_write_multi_entry) == 24, "vfu_write_multi_entry");

struct vfu_write_multi {
	uint64_t wr_cnt;
	struct vfu_write_multi_entry wrs[];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_write_multi) == 8, "vfu_write_multi");

struct vfu_device_feature {
	uint32_t argsz;
	uint32_t flags;
	uint8_t data[];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_device_feature) == 8, "vfu_device_feature");

struct vfu_mig_data {
	uint32_t argsz;
	uint32_t size;
	uint8_t data[];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_mig_data) == 8, "vfu_mig_data");

/*
 * uvfio extension, used only when VERSION negotiated "uvfio": {"precopy_info": true}: a
 * DEVICE_FEATURE index in the device-specific range that GETs VFIO_MIG_GET_PRECOPY_INFO's two
 * sizes (the spec has no message for them). Peers that did not negotiate it get ENOTTY.
 */
#define VFU_FEATURE_UVFIO_PRECOPY_INFO 0xff00u
struct vfu_precopy_info {
	uint64_t initial_bytes;
	uint64_t dirty_bytes;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_precopy_info) == 16, "vfu_precopy_info");

const char *vfu_command_name(uint16_t cmd);

#endif
