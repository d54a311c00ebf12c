/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <linux/vfio.h>

#include "vfio-user/wire.h"

static void test_command_names(void **state)
{
	(void)state;
	assert_string_equal(vfu_command_name(VFU_CMD_VERSION), "VERSION");
	assert_string_equal(vfu_command_name(VFU_CMD_DIRTY_PAGES), "DIRTY_PAGES");
	assert_string_equal(vfu_command_name(VFU_CMD_MIG_DATA_WRITE), "MIG_DATA_WRITE");
	assert_string_equal(vfu_command_name(0), "UNKNOWN");
	assert_string_equal(vfu_command_name(VFU_CMD_MAX), "UNKNOWN");
	assert_string_equal(vfu_command_name(0xffff), "UNKNOWN");
}

/* The wire structs that mirror <linux/vfio.h> must match it field for field. */
static void test_layout_matches_kernel(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct vfu_region_info, cap_offset),
			 offsetof(struct vfio_region_info, cap_offset));
	assert_int_equal(offsetof(struct vfu_region_info, offset),
			 offsetof(struct vfio_region_info, offset));
	assert_int_equal(sizeof(struct vfu_region_info), sizeof(struct vfio_region_info));
	assert_int_equal(sizeof(struct vfu_irq_info), sizeof(struct vfio_irq_info));
	assert_int_equal(sizeof(struct vfu_irq_set), sizeof(struct vfio_irq_set));
	assert_int_equal(sizeof(struct vfu_device_info), 16);
	assert_int_equal(sizeof(struct vfu_dma_unmap), sizeof(struct vfio_iommu_type1_dma_unmap));
	assert_int_equal(sizeof(struct vfu_cap_sparse_mmap),
			 sizeof(struct vfio_region_info_cap_sparse_mmap));
	assert_int_equal(sizeof(struct vfu_cap_type), sizeof(struct vfio_region_info_cap_type));
	assert_int_equal(sizeof(struct vfu_device_feature), sizeof(struct vfio_device_feature));
	assert_int_equal(VFU_DMA_UNMAP_FLAG_ALL, VFIO_DMA_UNMAP_FLAG_ALL);
	assert_int_equal(VFU_DMA_FLAG_READ, VFIO_DMA_MAP_FLAG_READ);
	assert_int_equal(VFU_DMA_FLAG_WRITE, VFIO_DMA_MAP_FLAG_WRITE);
	assert_int_equal(offsetof(struct vfu_region_access, data), 16);
	assert_int_equal(offsetof(struct vfu_dma_access, data), 16);
	assert_int_equal(offsetof(struct vfu_write_multi, wrs), 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_names),
		cmocka_unit_test(test_layout_matches_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
