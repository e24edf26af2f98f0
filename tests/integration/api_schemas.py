#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check evvm's API response bodies against minimal schemas written from
Firecracker's swagger definitions (the fields evvm returns; nothing else is
allowed). Input: lines "DefinitionName<TAB>json". Exit 1 on any mismatch."""
import json
import sys

import jsonschema

DEFS = {
    "Error": {
        "type": "object",
        "required": ["fault_message"],
        "properties": {"fault_message": {"type": "string", "minLength": 1}},
        "additionalProperties": False,
    },
    "InstanceInfo": {
        "type": "object",
        "required": ["app_name", "id", "state", "vmm_version"],
        "properties": {
            "app_name": {"type": "string"},
            "id": {"type": "string"},
            "state": {"enum": ["Not started", "Running", "Paused"]},
            "vmm_version": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "FirecrackerVersion": {
        "type": "object",
        "required": ["firecracker_version"],
        "properties": {"firecracker_version": {"type": "string"}},
        "additionalProperties": False,
    },
    "MachineConfiguration": {
        "type": "object",
        "required": ["mem_size_mib", "vcpu_count"],
        "properties": {
            "cpu_template": {"enum": ["C3", "T2", "T2S", "T2CL", "T2A", "V1N1", "None"]},
            "smt": {"type": "boolean"},
            "mem_size_mib": {"type": "integer"},
            "track_dirty_pages": {"type": "boolean"},
            "vcpu_count": {"type": "integer", "minimum": 1, "maximum": 32},
            "huge_pages": {"enum": ["None", "Transparent", "2M"]},
        },
        "additionalProperties": False,
    },
    "BootSource": {
        "type": "object",
        "required": ["kernel_image_path"],
        "properties": {
            "boot_args": {"type": "string"},
            "initrd_path": {"type": "string"},
            "kernel_image_path": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "Drive": {
        "type": "object",
        "required": ["drive_id", "is_root_device"],
        "properties": {
            "drive_id": {"type": "string"},
            "partuuid": {"type": "string"},
            "is_root_device": {"type": "boolean"},
            "cache_type": {"enum": ["Unsafe", "Writeback"]},
            "is_read_only": {"type": "boolean"},
            "path_on_host": {"type": "string"},
            "io_engine": {"enum": ["Sync", "Async"]},
            "socket": {"type": "string"},
            "queues": {"type": "integer", "minimum": 1, "maximum": 16},
            "iothreads": {"type": "integer", "minimum": 1, "maximum": 16},
            "rate_limiter": {"$ref": "#/definitions/RateLimiter"},
        },
        "additionalProperties": False,
    },
    "TokenBucket": {
        "type": "object",
        "required": ["refill_time", "size"],
        "properties": {
            "one_time_burst": {"type": "integer", "minimum": 0},
            "refill_time": {"type": "integer", "minimum": 0},
            "size": {"type": "integer", "minimum": 0},
        },
        "additionalProperties": False,
    },
    "RateLimiter": {
        "type": "object",
        "properties": {
            "bandwidth": {"$ref": "#/definitions/TokenBucket"},
            "ops": {"$ref": "#/definitions/TokenBucket"},
        },
        "additionalProperties": False,
    },
    "NetworkInterface": {
        "type": "object",
        "required": ["host_dev_name", "iface_id"],
        "properties": {
            "guest_mac": {"type": "string"},
            "host_dev_name": {"type": "string"},
            "iface_id": {"type": "string"},
            "rx_rate_limiter": {"$ref": "#/definitions/RateLimiter"},
            "tx_rate_limiter": {"$ref": "#/definitions/RateLimiter"},
        },
        "additionalProperties": False,
    },
    "EntropyDevice": {"type": "object", "additionalProperties": False},
    "Logger": {
        "type": "object",
        "properties": {
            "level": {"enum": ["Error", "Warning", "Info", "Debug", "Trace", "Off"]},
            "log_path": {"type": "string"},
            "show_level": {"type": "boolean"},
            "show_log_origin": {"type": "boolean"},
            "module": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "Metrics": {
        "type": "object",
        "required": ["metrics_path"],
        "properties": {"metrics_path": {"type": "string"}, "emit_id": {"type": "boolean"}},
        "additionalProperties": False,
    },
}
# A metrics line (not in the swagger: Firecracker's docs/metrics.md and its
# metrics.rs). Counters are non-negative integers: what happened since the
# last line. The sections evvm fills, with the keys it knows; any other key
# is an error, so a misspelt Firecracker name shows up here.
COUNT = {"type": "integer", "minimum": 0}


def counters(*keys, required=()):
    return {
        "type": "object",
        "properties": {k: COUNT for k in keys},
        "required": list(required),
        "additionalProperties": False,
    }


BLOCK = counters("read_count", "write_count", "read_bytes", "write_bytes", "flush_count",
                 "invalid_reqs_count", "execute_fails", "queue_event_count",
                 "rate_limiter_throttled_events")
NET = counters("rx_packets_count", "rx_bytes_count", "tx_packets_count", "tx_bytes_count",
               "tx_fails", "tx_malformed_frames", "rx_queue_event_count",
               "tx_queue_event_count", "rx_rate_limiter_throttled", "tx_rate_limiter_throttled")
# evvm's per-queue entry: kick_to_interrupt_us holds the samples of each of
# the 18 buckets (<1 us, <2 us ... <65536 us, the rest; vmm/kick_latency.h).
QUEUE = counters("kicks", "interrupts", required=("kicks", "interrupts", "kick_to_interrupt_us"))
QUEUE["properties"]["kick_to_interrupt_us"] = {
    "type": "array", "items": COUNT, "minItems": 18, "maxItems": 18}
DEFS["MetricsLine"] = {
    "type": "object",
    "required": ["utc_timestamp_ms", "api_server", "vmm", "latencies_us", "logger"],
    "properties": {
        "utc_timestamp_ms": COUNT,
        "id": {"type": "string"},
        "api_server": counters("requests", "request_errors",
                               required=("requests", "request_errors")),
        "block": BLOCK,
        "net": NET,
        "entropy": counters("entropy_event_count", "entropy_bytes",
                            "entropy_rate_limiter_throttled"),
        "vcpu": counters("exit_io_in", "exit_io_out", "exit_mmio_read", "exit_mmio_write",
                         "failures", required=("exit_io_in", "exit_io_out")),
        "uart": counters("read_count", "write_count", "error_count",
                         required=("read_count", "write_count")),
        "vmm": {
            "type": "object",
            "required": ["state"],
            "properties": {"state": {"enum": ["Not started", "Running", "Paused", "Exited"]}},
            "additionalProperties": False,
        },
        "latencies_us": counters("pause_vm", "resume_vm"),
        "logger": counters("missed_metrics_count", "missed_log_count",
                           required=("missed_metrics_count", "missed_log_count")),
        "evvm": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["counters", "kicks_seen", "queues", "config_interrupts"],
                "properties": {
                    "counters": {"type": "object", "additionalProperties": COUNT},
                    "kicks_seen": {"type": "boolean"},
                    "queues": {"type": "array", "items": QUEUE},
                    "config_interrupts": COUNT,
                },
                "additionalProperties": False,
            },
        },
    },
    "patternProperties": {"^block_[A-Za-z0-9_]+$": BLOCK, "^net_[A-Za-z0-9_]+$": NET},
    "additionalProperties": False,
}
DEFS["FullVmConfiguration"] = {
    "type": "object",
    "properties": {
        "boot-source": {"$ref": "#/definitions/BootSource"},
        "drives": {"type": "array", "items": {"$ref": "#/definitions/Drive"}},
        "machine-config": {"$ref": "#/definitions/MachineConfiguration"},
        "network-interfaces": {"type": "array", "items": {"$ref": "#/definitions/NetworkInterface"}},
        "entropy": {"$ref": "#/definitions/EntropyDevice"},
        "logger": {"$ref": "#/definitions/Logger"},
        "metrics": {"$ref": "#/definitions/Metrics"},
    },
    "additionalProperties": False,
}


def main():
    bad = 0
    n = 0
    with open(sys.argv[1]) as f:
        for line in f:
            name, _, body = line.rstrip("\n").partition("\t")
            schema = {"definitions": DEFS, "$ref": "#/definitions/" + name}
            n += 1
            try:
                jsonschema.validate(json.loads(body), schema)
            except (ValueError, jsonschema.ValidationError) as e:
                print(f"api_schemas: {name}: {body}: {e}", file=sys.stderr)
                bad += 1
    print(f"api_schemas: {n} bodies, {bad} not matching")
    sys.exit(1 if bad or not n else 0)


main()
