/// The JSON Schema (2020-12) of the manifest, printed by `sandlock-jobs schema`. It is the
/// same text as `schemas/sandlock-jobs.schema.json` (a test checks it byte for byte, and
/// `Scripts/check-schema.py` checks its key sets against `ManifestVocabulary`). Edit the
/// file, then run `Scripts/check-schema.py --sync` to copy it here.
public enum ManifestSchema {
    public static let json = ##"""
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://sandlock-jobs.dev/schemas/sandlock-jobs.schema.json",
  "title": "sandlock-jobs manifest (version 1)",
  "description": "Stages, pipelines and fan-outs of sandboxed processes. Reference: docs/manifest.md.",
  "type": "object",
  "additionalProperties": false,
  "required": [
    "version",
    "stages"
  ],
  "properties": {
    "version": {
      "const": 1
    },
    "name": {
      "type": "string",
      "minLength": 1
    },
    "description": {
      "type": "string"
    },
    "workdir": {
      "type": "string",
      "minLength": 1,
      "description": "Tree the stages work in (default: the manifest's folder)."
    },
    "env": {
      "$ref": "#/$defs/env"
    },
    "policies": {
      "type": "object",
      "additionalProperties": {
        "$ref": "#/$defs/policy"
      },
      "description": "Named, reusable policies."
    },
    "defaults": {
      "$ref": "#/$defs/defaults"
    },
    "stages": {
      "type": "object",
      "minProperties": 1,
      "propertyNames": {
        "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
      },
      "additionalProperties": {
        "$ref": "#/$defs/stage"
      }
    }
  },
  "patternProperties": {
    "^x-": {
      "description": "Ignored; a place for YAML anchors (x-base: &base …)."
    }
  },
  "$defs": {
    "defaults": {
      "description": "Values every stage gets unless it sets its own.",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "policy": {
          "$ref": "#/$defs/policyRef"
        },
        "timeout": {
          "$ref": "#/$defs/duration"
        },
        "retry": {
          "$ref": "#/$defs/retryValue"
        },
        "on_success": {
          "$ref": "#/$defs/disposition",
          "description": "What becomes of the stage's copy-on-write workspace when the stage succeeds (default: commit)."
        },
        "on_failure": {
          "$ref": "#/$defs/disposition",
          "description": "What becomes of the stage's copy-on-write workspace when the stage fails, times out or is killed at a limit (default: abort)."
        }
      }
    },
    "policy": {
      "description": "What a sandboxed process may do; sections are named like sandlock's profile sections.",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "extends": {
          "$ref": "#/$defs/names",
          "description": "Policies this one builds on: lists are joined, scalars overridden; may chain, no cycles."
        },
        "description": {
          "type": "string"
        },
        "filesystem": {
          "$ref": "#/$defs/filesystem"
        },
        "network": {
          "$ref": "#/$defs/network"
        },
        "limits": {
          "$ref": "#/$defs/limits"
        },
        "determinism": {
          "$ref": "#/$defs/determinism"
        },
        "syscalls": {
          "$ref": "#/$defs/syscalls"
        },
        "environment": {
          "$ref": "#/$defs/environment"
        },
        "allow_degraded": {
          "type": "boolean",
          "description": "Run even when the kernel cannot enforce part of the policy (--allow-degraded)."
        }
      }
    },
    "filesystem": {
      "description": "Landlock filesystem rules.",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "read": {
          "type": "array",
          "items": {
            "type": "string",
            "minLength": 1
          },
          "description": "Trees readable and executable (-r/--fs-read)."
        },
        "write": {
          "type": "array",
          "items": {
            "type": "string",
            "minLength": 1
          },
          "description": "Trees writable (-w/--fs-write)."
        },
        "deny": {
          "type": "array",
          "items": {
            "type": "string",
            "minLength": 1
          },
          "description": "Carve-outs inside allowed trees (--fs-deny)."
        },
        "devices": {
          "type": "boolean",
          "description": "/dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom usable (default true)."
        }
      }
    },
    "network": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "allow": {
          "type": "array",
          "description": "Outbound TCP endpoints host:port or :port (--net-allow).",
          "items": {
            "type": "string",
            "pattern": "^([^\\s:]*|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$"
          }
        },
        "bind": {
          "type": "array",
          "description": "TCP ports the process may bind (--net-bind).",
          "items": {
            "type": "integer",
            "minimum": 1,
            "maximum": 65535
          }
        },
        "udp": {
          "type": "boolean",
          "description": "Allow UDP sockets."
        },
        "icmp": {
          "type": "boolean",
          "description": "Allow ICMP datagram sockets."
        },
        "port_remap": {
          "type": "boolean",
          "description": "Virtual port space."
        }
      }
    },
    "limits": {
      "description": "Resource limits (-m, -P, -c, --max-open-files, --cpu-cores, --num-cpus).",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "memory": {
          "$ref": "#/$defs/size"
        },
        "processes": {
          "type": "integer",
          "minimum": 1
        },
        "cpu": {
          "type": "integer",
          "minimum": 1,
          "description": "CPU share in percent of one core."
        },
        "open_files": {
          "type": "integer",
          "minimum": 1
        },
        "cpu_cores": {
          "type": "array",
          "items": {
            "type": "integer",
            "minimum": 0,
            "maximum": 4095
          }
        },
        "num_cpus": {
          "type": "integer",
          "minimum": 1,
          "maximum": 4096
        }
      }
    },
    "determinism": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "time_start": {
          "description": "An RFC 3339 time (as `sandlock run --time-start`) or Unix seconds.",
          "anyOf": [
            {
              "type": "integer"
            },
            {
              "type": "string",
              "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
            }
          ]
        },
        "random_seed": {
          "anyOf": [
            {
              "type": "integer",
              "minimum": 0
            },
            {
              "type": "string",
              "pattern": "^[0-9]+$"
            }
          ]
        },
        "deterministic_dirs": {
          "type": "boolean"
        },
        "no_randomize_memory": {
          "type": "boolean"
        },
        "no_huge_pages": {
          "type": "boolean"
        },
        "no_coredump": {
          "type": "boolean"
        }
      }
    },
    "syscalls": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "deny": {
          "type": "array",
          "items": {
            "type": "string",
            "pattern": "^[a-z0-9_]+$"
          },
          "description": "Replaces the default deny list; an empty list keeps the default."
        },
        "allow": {
          "type": "array",
          "items": {
            "type": "string",
            "pattern": "^[a-z0-9_]+$"
          },
          "description": "Allowlist mode; an empty list means no allowlist."
        },
        "extra_deny": {
          "type": "array",
          "items": {
            "type": "string",
            "pattern": "^[a-z0-9_]+$"
          },
          "description": "Added to the deny list."
        },
        "extra_allow": {
          "type": "array",
          "items": {
            "type": "string",
            "pattern": "^[a-z0-9_]+$"
          },
          "description": "Groups taken off the deny list."
        }
      }
    },
    "environment": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "clean": {
          "type": "boolean",
          "description": "Start from a minimal environment (--clean-env)."
        },
        "env": {
          "$ref": "#/$defs/env"
        }
      }
    },
    "stage": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "description": {
          "type": "string"
        },
        "needs": {
          "$ref": "#/$defs/names",
          "description": "Stages that must end first."
        },
        "run": {
          "$ref": "#/$defs/command"
        },
        "pipeline": {
          "type": "array",
          "minItems": 1,
          "items": {
            "$ref": "#/$defs/process"
          },
          "description": "Commands joined by kernel pipes."
        },
        "map": {
          "$ref": "#/$defs/map"
        },
        "reduce": {
          "$ref": "#/$defs/process"
        },
        "policy": {
          "$ref": "#/$defs/policyRef"
        },
        "env": {
          "$ref": "#/$defs/env"
        },
        "cwd": {
          "type": "string",
          "minLength": 1
        },
        "timeout": {
          "$ref": "#/$defs/duration"
        },
        "retry": {
          "$ref": "#/$defs/retryValue"
        },
        "if": {
          "enum": [
            "success",
            "failure",
            "always"
          ]
        },
        "allow_failures": {
          "description": "Map workers that may fail: a count or a percentage.",
          "anyOf": [
            {
              "type": "integer",
              "minimum": 0
            },
            {
              "type": "string",
              "pattern": "^[0-9]+(\\.[0-9]+)?%$"
            }
          ]
        },
        "on_success": {
          "$ref": "#/$defs/disposition",
          "description": "What becomes of the stage's copy-on-write workspace when the stage succeeds (default: commit)."
        },
        "on_failure": {
          "$ref": "#/$defs/disposition",
          "description": "What becomes of the stage's copy-on-write workspace when the stage fails, times out or is killed at a limit (default: abort)."
        }
      },
      "oneOf": [
        {
          "required": [
            "run"
          ],
          "not": {
            "required": [
              "pipeline"
            ]
          }
        },
        {
          "required": [
            "pipeline"
          ],
          "not": {
            "anyOf": [
              {
                "required": [
                  "run"
                ]
              },
              {
                "required": [
                  "map"
                ]
              }
            ]
          }
        }
      ],
      "dependentRequired": {
        "reduce": [
          "map"
        ],
        "allow_failures": [
          "map"
        ]
      }
    },
    "map": {
      "description": "Fan-out: one sandboxed worker per item.",
      "type": "object",
      "additionalProperties": false,
      "required": [
        "over"
      ],
      "properties": {
        "over": {
          "$ref": "#/$defs/over"
        },
        "max_parallel": {
          "type": "integer",
          "minimum": 1
        }
      }
    },
    "over": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "glob": {
          "type": "string",
          "minLength": 1
        },
        "items": {
          "type": "array",
          "minItems": 1,
          "items": {
            "type": [
              "string",
              "number",
              "boolean"
            ]
          }
        },
        "shards": {
          "type": "integer",
          "minimum": 1,
          "maximum": 1000000
        },
        "lines": {
          "type": "string",
          "minLength": 1
        }
      },
      "minProperties": 1,
      "maxProperties": 1
    },
    "process": {
      "description": "A process of a stage: a pipeline member, or the reducer of a map stage (which gets the workers' stdout, in item order, on stdin).",
      "type": "object",
      "additionalProperties": false,
      "required": [
        "run"
      ],
      "properties": {
        "run": {
          "$ref": "#/$defs/command"
        },
        "policy": {
          "$ref": "#/$defs/policyRef"
        },
        "env": {
          "$ref": "#/$defs/env"
        },
        "cwd": {
          "type": "string",
          "minLength": 1
        }
      }
    },
    "retryValue": {
      "anyOf": [
        {
          "type": "integer",
          "minimum": 0,
          "maximum": 100
        },
        {
          "$ref": "#/$defs/retry"
        }
      ]
    },
    "retry": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "limit": {
          "type": "integer",
          "minimum": 0,
          "maximum": 100
        },
        "on": {
          "anyOf": [
            {
              "enum": [
                "failure",
                "exit",
                "signal",
                "timeout",
                "memory_limit",
                "process_limit",
                "spawn_failure"
              ]
            },
            {
              "type": "array",
              "items": {
                "enum": [
                  "failure",
                  "exit",
                  "signal",
                  "timeout",
                  "memory_limit",
                  "process_limit",
                  "spawn_failure"
                ]
              }
            }
          ]
        },
        "backoff": {
          "anyOf": [
            {
              "$ref": "#/$defs/duration"
            },
            {
              "$ref": "#/$defs/backoff"
            }
          ]
        }
      }
    },
    "backoff": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "delay": {
          "$ref": "#/$defs/duration"
        },
        "factor": {
          "type": "number",
          "minimum": 1,
          "maximum": 100
        },
        "max": {
          "$ref": "#/$defs/duration"
        }
      }
    },
    "disposition": {
      "description": "commit: apply the changes to the workdir (journaled; refused on conflict); abort: throw them away; keep: leave the workspace for `sandlock-jobs commit` / `discard`.",
      "enum": [
        "commit",
        "abort",
        "keep"
      ]
    },
    "size": {
      "description": "Bytes, or a number with K, M, G or T (powers of 1024), as `sandlock run -m`: 512M, 1G, 100K.",
      "anyOf": [
        {
          "type": "integer",
          "minimum": 0
        },
        {
          "type": "string",
          "pattern": "^[0-9]+([KMGTkmgt]|[Bb])?$"
        }
      ]
    },
    "duration": {
      "description": "Seconds, or a number with ms, s, m, h or d, as `sandlock run -t`: 500ms, 30s, 5m, 1h.",
      "anyOf": [
        {
          "type": "number",
          "minimum": 0
        },
        {
          "type": "string",
          "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)?$"
        }
      ]
    },
    "env": {
      "description": "Environment variables (name: value).",
      "type": "object",
      "propertyNames": {
        "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"
      },
      "additionalProperties": {
        "type": [
          "string",
          "number",
          "boolean",
          "null"
        ]
      }
    },
    "command": {
      "description": "A string runs under /bin/sh -c; a list is the argv itself (no shell).",
      "anyOf": [
        {
          "type": "string",
          "minLength": 1
        },
        {
          "type": "array",
          "minItems": 1,
          "items": {
            "type": [
              "string",
              "number",
              "boolean"
            ]
          }
        }
      ]
    },
    "policyRef": {
      "description": "The name of a policy in `policies`, or a policy written in place.",
      "anyOf": [
        {
          "type": "string",
          "minLength": 1
        },
        {
          "$ref": "#/$defs/policy"
        }
      ]
    },
    "names": {
      "description": "A name or a list of names.",
      "anyOf": [
        {
          "type": "string",
          "minLength": 1
        },
        {
          "type": "array",
          "items": {
            "type": "string",
            "minLength": 1
          }
        }
      ]
    }
  }
}
"""##
}
