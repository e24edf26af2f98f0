/*
 * The test frames of guest/test_virtio_net.c, as the guest and the host
 * side (tests/lib/netpeer.h, bench/net) both read and write them: 60 bytes,
 * a broadcast or unicast Ethernet header with ethertype NF_ETHERTYPE, the
 * magic "EVNT", a type byte and a 0, a little-endian sequence number, then
 * byte k = (k * 7 + 0x11) & 0xff up to the end. Plain constants only: the
 * freestanding guest and the host both include it.
 */
#ifndef EVVM_GUEST_NETFRAME_H
#define EVVM_GUEST_NETFRAME_H

#define NF_LEN		60
#define NF_ETHERTYPE	0x88b5
#define NF_OFF_MAGIC	14
#define NF_OFF_TYPE	18
#define NF_OFF_SEQ	20
#define NF_OFF_PAT	24
#define NF_MAGIC	0x544e5645	/* "EVNT" little-endian */

enum { NF_DATA = 1, NF_ACK = 2, NF_READY = 3, NF_DONE = 4 };

#endif
