/* SPDX-License-Identifier: MIT */
/*
 * The edu register map as QEMU's hw/misc/edu.c defines it, written down once for the tests
 * that drive an edu device from outside. Deliberately not the driver's own header: the tests
 * check the driver against QEMU's layout, so a wrong constant in the driver cannot hide.
 */
#ifndef UVFIO_TEST_EDU_REGS_H
#define UVFIO_TEST_EDU_REGS_H

#define EDU_ID 0x010000edu
#define REG_ID 0x00
#define REG_LIVE 0x04
#define REG_FACT 0x08
#define REG_STATUS 0x20
#define REG_IRQ_STATUS 0x24
#define REG_IRQ_RAISE 0x60
#define REG_IRQ_ACK 0x64
#define REG_DMA_SRC 0x80
#define REG_DMA_DST 0x88
#define REG_DMA_CNT 0x90
#define REG_DMA_CMD 0x98
#define DMA_START 0x1u
#define DMA_TO_RAM 0x2u
#define DMA_IRQ 0x4u
#define DMA_BUF 0x40000u

#endif
