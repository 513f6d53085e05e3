// The few Linux system calls the daemon needs and Node has no binding for: CLOCK_BOOTTIME,
// prctl(PR_SET_DUMPABLE), setrlimit(RLIMIT_CORE), flock(2) and glibc's malloc_trim. A general FFI library would do
// the same, but loading one costs the daemon several MiB of resident memory for four calls; this
// addon costs a few pages. Every function returns 0 or a positive errno; none allocates.
#include <errno.h>
#include <malloc.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <node_api.h>

#define CHECK(call) do { if ((call) != napi_ok) return NULL; } while (0)

static napi_value int_value(napi_env env, int v) {
  napi_value out;
  CHECK(napi_create_int32(env, v, &out));
  return out;
}

static int int_arg(napi_env env, napi_callback_info info, size_t index, int *out) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc <= index) return 0;
  return napi_get_value_int32(env, argv[index], out) == napi_ok;
}

// Milliseconds on CLOCK_BOOTTIME (suspend included), or a negative errno.
static napi_value boot_time_ms(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec ts;
  double ms = clock_gettime(CLOCK_BOOTTIME, &ts) == 0 ? (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6 : -(double)errno;
  napi_value out;
  CHECK(napi_create_double(env, ms, &out));
  return out;
}

// setrlimit(RLIMIT_CORE, 0) then prctl(PR_SET_DUMPABLE, 0): 0 or the errno of the first failure.
static napi_value forbid_core_dumps(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit none = { 0, 0 };
  if (setrlimit(RLIMIT_CORE, &none) != 0) return int_value(env, errno);
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return int_value(env, errno);
  return int_value(env, 0);
}

// 1 if the process may be dumped, 0 if not, or a negative errno.
static napi_value dumpable(napi_env env, napi_callback_info info) {
  (void)info;
  int rc = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  return int_value(env, rc < 0 ? -errno : rc);
}

// flock(fd, operation): 0 or the errno.
static napi_value flock_fd(napi_env env, napi_callback_info info) {
  int fd, op;
  if (!int_arg(env, info, 0, &fd) || !int_arg(env, info, 1, &op)) {
    napi_throw_type_error(env, NULL, "flock(fd, operation) takes two integers");
    return NULL;
  }
  return int_value(env, flock(fd, op) == 0 ? 0 : errno);
}

// malloc_trim(0): hands freed heap pages back to the kernel; 1 if it released any.
static napi_value trim_heap(napi_env env, napi_callback_info info) {
  (void)info;
  return int_value(env, malloc_trim(0));
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "bootTimeMs", NULL, boot_time_ms, NULL, NULL, NULL, napi_enumerable, NULL },
    { "forbidCoreDumps", NULL, forbid_core_dumps, NULL, NULL, NULL, napi_enumerable, NULL },
    { "dumpable", NULL, dumpable, NULL, NULL, NULL, napi_enumerable, NULL },
    { "flock", NULL, flock_fd, NULL, NULL, NULL, napi_enumerable, NULL },
    { "mallocTrim", NULL, trim_heap, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
