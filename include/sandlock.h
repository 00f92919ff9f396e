/*
 * sandlock.h: the C ABI of sandlock-jobs' engine (libsandlock.so, the `sandlock` product of
 * Package.swift, implemented in Sources/SandlockC). The Python package (python/) is its first
 * user, through ctypes.
 *
 * Conventions
 *  - Every handle is opaque and owned by the caller, who frees it with its *_free function
 *    (NULL is accepted and ignored).
 *  - Functions that can fail return a sandlock_status (0 = SANDLOCK_OK). On failure, when
 *    `error` is not NULL, *error receives a malloc'd, NUL-terminated UTF-8 message that names
 *    the problem and what to do about it; free it with sandlock_string_free(). On success
 *    *error is set to NULL.
 *  - Every string this library returns (messages, JSON) is freed with sandlock_string_free().
 *  - Byte buffers returned by sandlock_result_stdout/stderr belong to the result and live
 *    as long as it does.
 *  - The functions are thread-safe; sandlock_wait blocks the calling thread only.
 *
 * The ABI is versioned: sandlock_abi_version() returns SANDLOCK_ABI_VERSION of the build.
 * A change that removes or alters a function or a meaning increments it; additions do not.
 */
#ifndef SANDLOCK_H
#define SANDLOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SANDLOCK_ABI_VERSION 1

typedef enum sandlock_status {
    SANDLOCK_OK = 0,
    /* A caller error: a NULL argument, an empty command, JSON that does not parse. */
    SANDLOCK_ERROR_ARGUMENT = 1,
    /* A policy value out of its notation or range, an unknown field, inconsistent fields. */
    SANDLOCK_ERROR_INVALID_POLICY = 2,
    /* A path of the policy does not exist or cannot be opened. */
    SANDLOCK_ERROR_PATH_NOT_FOUND = 3,
    /* The kernel lacks a feature the policy needs (and allow_degraded is off). */
    SANDLOCK_ERROR_KERNEL_FEATURE = 4,
    /* A field this build does not enforce (and allow_degraded is off). */
    SANDLOCK_ERROR_UNSUPPORTED = 5,
    /* argv[0] is not an executable in the sandbox's PATH. */
    SANDLOCK_ERROR_COMMAND_NOT_FOUND = 6,
    /* The child failed while confining itself or at exec (step and errno in the message). */
    SANDLOCK_ERROR_CHILD_SETUP = 7,
    /* A system call of the caller's process failed. */
    SANDLOCK_ERROR_SYSTEM = 8,
    /* A copy-on-write workspace could not be created, read or committed. */
    SANDLOCK_ERROR_WORKSPACE = 9,
} sandlock_status;

typedef struct sandlock_policy sandlock_policy;
typedef struct sandlock_process sandlock_process;
typedef struct sandlock_result sandlock_result;

/* SANDLOCK_ABI_VERSION of the library actually loaded. */
uint32_t sandlock_abi_version(void);

/* Frees a string returned by this library (error messages, JSON). NULL is ignored. */
void sandlock_string_free(char *string);

/* ---- Policies ---------------------------------------------------------------------------
 * Field names are sandlock's snake_case names (fs_readable, max_memory, …; the policy table,
 * Sources/SandlockCore/Policy/Policy+Fields.swift). */

/* The policy table as JSON: [{"name": "max_memory", "kind": "size", "list": false,
 * "doc": "…"}, …]; kinds: flag, paths, string, size, duration, integer, cpu_list, ports,
 * endpoints, timestamp, seed, syscalls, syscall_groups, syscall_set, environment,
 * disposition. Free with sandlock_string_free. */
char *sandlock_policy_fields(void);

/* A policy from its JSON encoding (`sandlock inspect`'s "policy"): typed values, sizes in
 * bytes. A missing key keeps the field's default; an unknown key is an error. */
sandlock_status sandlock_policy_from_json(const char *json, sandlock_policy **policy, char **error);

/* A policy from a JSON object in the value forms of sandlock's Python API and profiles:
 * {"max_memory": "256M", "timeout": 30, "fs_readable": ["/usr"], "env": {"K": "V"},
 * "clean_env": true, "cpu_cores": [0, 2]}. Each value is parsed by its field exactly as
 * `sandlock run` parses the field's flag; null leaves the field at its default. The
 * message of an unknown key names it (with the closest field name). */
sandlock_status sandlock_policy_from_values(const char *json, sandlock_policy **policy, char **error);

/* The policy as JSON (the form sandlock_policy_from_json reads). */
char *sandlock_policy_to_json(const sandlock_policy *policy);

void sandlock_policy_free(sandlock_policy *policy);

/* ---- Processes --------------------------------------------------------------------------- */

/* Flags of sandlock_spawn. */
#define SANDLOCK_SPAWN_DRY_RUN 1u        /* run over the workdir's workspace, then abort it:
                                            the result's "changes" list what would change */
#define SANDLOCK_SPAWN_INHERIT_OUTPUT 2u /* stdout/stderr are the caller's, not captured */

/* Starts argv (NULL-terminated) confined by policy and returns once the command has
 * exec'd. stdin is the `input_length` bytes at `input` then EOF, or /dev/null when input
 * is NULL. stdout and stderr are captured (drained while it runs) unless
 * SANDLOCK_SPAWN_INHERIT_OUTPUT. */
sandlock_status sandlock_spawn(const sandlock_policy *policy, const char *const *argv,
                               const uint8_t *input, size_t input_length, uint32_t flags,
                               sandlock_process **process, char **error);

/* The pid of the sandbox's init (the command's parent). */
int32_t sandlock_process_pid(const sandlock_process *process);

/* With a named sandbox (policy "name") and port_remap: the ports the sandbox bound so far as
 * JSON {"virtual": real, …} (strings as keys), "{}" before any bind or without a name.
 * Free with sandlock_string_free. Callable while it runs and after. */
char *sandlock_process_ports(const sandlock_process *process);

/* Kills every process of the sandbox. Idempotent; harmless after the end. */
void sandlock_kill(sandlock_process *process);

/* Blocks until the sandbox has ended (every process gone, workspace settled) and returns its
 * result; a second call returns another copy of it. */
sandlock_result *sandlock_wait(sandlock_process *process);

/* Frees the handle; a sandbox still running is killed first. */
void sandlock_process_free(sandlock_process *process);

/* Starts `count` stages joined by kernel pipes (stage i's stdout is stage i+1's stdin), each
 * under its own policy, waits for all of them and stores one result per stage in
 * results[0..count-1] (the last stage's stdout is captured; every stage's stderr is).
 * `input` feeds the first stage as in sandlock_spawn. If a stage cannot start, the stages
 * already started are killed and reaped, nothing is stored in results, and the error names
 * the stage (counted from 0). */
sandlock_status sandlock_pipeline(size_t count, const sandlock_policy *const *policies,
                                  const char *const *const *argvs, const uint8_t *input,
                                  size_t input_length, sandlock_result **results, char **error);

/* Confines the calling thread, and the threads and processes it creates afterwards, to the
 * policy's filesystem rules (Landlock; irreversible). Only fs_readable, fs_writable,
 * default_devices and allow_degraded may be set. */
sandlock_status sandlock_confine(const sandlock_policy *policy, char **error);

/* ---- Results ----------------------------------------------------------------------------- */

/* Everything but the output as JSON: {"success", "reason" ("exited", "signaled", "timeout",
 * "killed", "memory_limit"), "exit_code" (or null), "signal" (or null), "wall_time",
 * "user_time", "system_time" (seconds), "peak_memory" (bytes), "peak_sandbox_memory",
 * "peak_processes" (or null), "leftover_processes_killed", "supervisor_notifications",
 * "denied_connections" {"ip:port": n}, "enforcement" {…}, "workspace" (null, or {"outcome",
 * "disposition", "directory", "changes": [{"kind": "A"|"M"|"D"|"R", "path", "from"?}]})}.
 * Free with sandlock_string_free. */
char *sandlock_result_json(const sandlock_result *result);

/* The captured output: *bytes points into the result (NULL when empty); returns the length. */
size_t sandlock_result_stdout(const sandlock_result *result, const uint8_t **bytes);
size_t sandlock_result_stderr(const sandlock_result *result, const uint8_t **bytes);

void sandlock_result_free(sandlock_result *result);

#ifdef __cplusplus
}
#endif

#endif /* SANDLOCK_H */
