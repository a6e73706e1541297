/* edgehost.native_modules._fastcall -- the per-call path of the Python
 * kernel API, in process (isolation="inproc") and into a KVM guest
 * ("kvm", offload() below), as a small CPython extension.
 *
 * Why not cffi: a cffi call plus ffi.from_buffer costs ~250-450 ns here, more
 * than the whole CRC32C of 64 bytes; a METH_FASTCALL function taking its
 * inputs through the buffer protocol costs about what the `crc32c` package
 * does (~100 ns). Inputs are never converted or copied: any C-contiguous
 * buffer (bytes, bytearray, memoryview, array, ndarray, mmap) is read in place.
 *
 * One copy of the kernels: this module does not link them. bind() receives,
 * once, the addresses of eh_crc32c and eh_kernel_run inside _native (the cffi
 * module, which owns dispatch and variant pins), and every call goes through
 * those pointers. Built for the stable ABI (3.11: buffer protocol included).
 *
 *   bind(crc32c_addr, kernel_run_addr)
 *   crc32c(data, seed) -> int                 eh_crc32c(seed mod 2^32, data)
 *   run(kernel, flags, arg0, arg1, data, data2, out)
 *       -> (status, detail, value, out_len, err_offset)
 *       one eh_kernel_run; data/data2 readable buffers or None, out a writable
 *       buffer or None (then out_cap = 0); args are unsigned 64-bit.
 * The GIL is released around kernels that see LARGE bytes or more.
 *
 * The same request into a KVM guest (isolation="kvm": a guest call costs
 * ~5 us warm, and the cffi path around it -- two ffi.new, from_buffer, the
 * request fill, the result's fields -- added ~4 us more):
 *   bind_guest(vm_offload_addr)               eh_vm_offload in _native
 *   offload(vm_addr, kernel, flags, arg0, arg1, data, data2, out)
 *       -> (rc, status, detail, value, out_len, err_offset, message)
 *       one eh_vm_offload (no deadline) on the eh_vm * at vm_addr, which the
 *       caller keeps alive for the call (host/isolation/guest.py counts it);
 *       rc is its eh_offload_status and message its error text ('' when
 *       rc is 0). The GIL is always released: a guest call blocks. */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "eh_offload.h"

#define LARGE (64 * 1024) /* below this, releasing the GIL costs more than it gives */

typedef uint32_t (*crc_fn)(uint32_t seed, const uint8_t *p, uint64_t n);
typedef void (*run_fn)(const eh_offload_req *req, eh_offload_res *res);
typedef int (*vm_offload_fn)(void *vm, const eh_offload_req *req, eh_offload_res *res,
                             uint64_t deadline_ns, char *err, size_t errlen);
static crc_fn crc32c_ptr;
static run_fn kernel_run_ptr;
static vm_offload_fn vm_offload_ptr;
#define ERRLEN 256 /* room for the monitor's error text */

/* nargs is want and bind() ran; else a Python error and 0. */
static int ready(Py_ssize_t nargs, Py_ssize_t want, const char *usage)
{
    if (nargs != want) {
        PyErr_SetString(PyExc_TypeError, usage);
        return 0;
    }
    if (crc32c_ptr && kernel_run_ptr)
        return 1;
    PyErr_SetString(PyExc_RuntimeError, "_fastcall: bind() was not called");
    return 0;
}

/* The non-NULL address an int holds; NULL with a Python error naming what. */
static void *address(PyObject *o, const char *what)
{
    void *a = PyLong_AsVoidPtr(o);
    if (!a && !PyErr_Occurred())
        PyErr_Format(PyExc_ValueError, "%s: NULL address", what);
    return PyErr_Occurred() ? NULL : a;
}

static PyObject *fc_bind(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "bind(crc32c_addr, kernel_run_addr)");
        return NULL;
    }
    void *a = address(args[0], "bind"), *b = a ? address(args[1], "bind") : NULL;
    if (!b)
        return NULL;
    crc32c_ptr = (crc_fn)a;
    kernel_run_ptr = (run_fn)b;
    Py_RETURN_NONE;
}

static PyObject *fc_crc32c(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!ready(nargs, 2, "crc32c(data, seed)"))
        return NULL;
    unsigned long seed = PyLong_AsUnsignedLongMask(args[1]);
    if (seed == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    Py_buffer v;
    if (PyObject_GetBuffer(args[0], &v, PyBUF_SIMPLE) < 0)
        return NULL;
    uint32_t r;
    if (v.len >= LARGE) {
        Py_BEGIN_ALLOW_THREADS
        r = crc32c_ptr((uint32_t)seed, (const uint8_t *)v.buf, (uint64_t)v.len);
        Py_END_ALLOW_THREADS
    } else {
        r = crc32c_ptr((uint32_t)seed, (const uint8_t *)v.buf, (uint64_t)v.len);
    }
    PyBuffer_Release(&v);
    return PyLong_FromUnsignedLong(r);
}

/* An optional buffer argument: None -> empty. */
static int get_buf(PyObject *o, Py_buffer *v, int writable)
{
    if (o == Py_None) {
        memset(v, 0, sizeof *v);
        return 0;
    }
    return PyObject_GetBuffer(o, v, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE);
}

static void put_buf(PyObject *o, Py_buffer *v)
{
    if (o != Py_None)
        PyBuffer_Release(v);
}

/* A request's buffers, held from request() until release(). */
typedef struct {
    PyObject *const *objs; /* data, data2, out */
    Py_buffer in, in2, out;
} req_bufs;

static void release(req_bufs *b)
{
    put_buf(b->objs[2], &b->out);
    put_buf(b->objs[1], &b->in2);
    put_buf(b->objs[0], &b->in);
}

/* args = kernel, flags, arg0, arg1, data, data2, out -> *req over buffers
 * held in *b; 0, or -1 with a Python error and nothing held. */
static int request(PyObject *const *args, eh_offload_req *req, req_bufs *b)
{
    memset(req, 0, sizeof *req);
    unsigned long kernel = PyLong_AsUnsignedLong(args[0]);
    unsigned long flags = kernel == (unsigned long)-1 && PyErr_Occurred()
                              ? 0 : PyLong_AsUnsignedLong(args[1]);
    unsigned long long a0 = PyErr_Occurred() ? 0 : PyLong_AsUnsignedLongLong(args[2]);
    unsigned long long a1 = PyErr_Occurred() ? 0 : PyLong_AsUnsignedLongLong(args[3]);
    if (PyErr_Occurred())
        return -1;
    if (kernel > UINT32_MAX || flags > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "kernel and flags are 32-bit");
        return -1;
    }
    b->objs = args + 4;
    if (get_buf(args[4], &b->in, 0) < 0)
        return -1;
    if (get_buf(args[5], &b->in2, 0) < 0) {
        put_buf(args[4], &b->in);
        return -1;
    }
    if (get_buf(args[6], &b->out, 1) < 0) {
        put_buf(args[5], &b->in2);
        put_buf(args[4], &b->in);
        return -1;
    }
    req->kernel = (uint32_t)kernel;
    req->flags = (uint32_t)flags;
    req->arg[0] = a0;
    req->arg[1] = a1;
    req->in = (uint64_t)(uintptr_t)b->in.buf;
    req->in_len = (uint64_t)b->in.len;
    req->in2 = (uint64_t)(uintptr_t)b->in2.buf;
    req->in2_len = (uint64_t)b->in2.len;
    req->out = (uint64_t)(uintptr_t)b->out.buf;
    req->out_cap = (uint64_t)b->out.len;
    return 0;
}

static PyObject *fc_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!ready(nargs, 7, "run(kernel, flags, arg0, arg1, data, data2, out)"))
        return NULL;
    eh_offload_req req;
    req_bufs b;
    if (request(args, &req, &b) < 0)
        return NULL;
    eh_offload_res res;
    memset(&res, 0, sizeof res);
    if (req.in_len + req.in2_len >= LARGE) {
        Py_BEGIN_ALLOW_THREADS
        kernel_run_ptr(&req, &res);
        Py_END_ALLOW_THREADS
    } else {
        kernel_run_ptr(&req, &res);
    }
    release(&b);
    return Py_BuildValue("(iIKKK)", (int)res.status, (unsigned)res.detail,
                         (unsigned long long)res.value, (unsigned long long)res.out_len,
                         (unsigned long long)res.err_offset);
}

static PyObject *fc_bind_guest(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "bind_guest(vm_offload_addr)");
        return NULL;
    }
    void *a = address(args[0], "bind_guest");
    if (!a)
        return NULL;
    vm_offload_ptr = (vm_offload_fn)a;
    Py_RETURN_NONE;
}

static PyObject *fc_offload(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "offload(vm_addr, kernel, flags, arg0, arg1, data, data2, out)");
        return NULL;
    }
    if (!vm_offload_ptr) {
        PyErr_SetString(PyExc_RuntimeError, "_fastcall: bind_guest() was not called");
        return NULL;
    }
    void *vm = address(args[0], "offload: guest handle");
    if (!vm)
        return NULL;
    eh_offload_req req;
    req_bufs b;
    if (request(args + 1, &req, &b) < 0)
        return NULL;
    eh_offload_res res;
    memset(&res, 0, sizeof res);
    char err[ERRLEN];
    err[0] = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = vm_offload_ptr(vm, &req, &res, 0, err, sizeof err);
    Py_END_ALLOW_THREADS
    release(&b);
    err[sizeof err - 1] = 0;
    return Py_BuildValue("(iiIKKKN)", rc, (int)res.status, (unsigned)res.detail,
                         (unsigned long long)res.value, (unsigned long long)res.out_len,
                         (unsigned long long)res.err_offset,
                         PyUnicode_DecodeUTF8(err, (Py_ssize_t)strlen(err), "replace"));
}

static PyMethodDef methods[] = {
    {"bind", (PyCFunction)(void (*)(void))fc_bind, METH_FASTCALL,
     "bind(crc32c_addr, kernel_run_addr): the kernels in _native to call."},
    {"crc32c", (PyCFunction)(void (*)(void))fc_crc32c, METH_FASTCALL,
     "crc32c(data, seed) -> int: CRC32C of a C-contiguous buffer, read in place."},
    {"run", (PyCFunction)(void (*)(void))fc_run, METH_FASTCALL,
     "run(kernel, flags, arg0, arg1, data, data2, out) -> (status, detail, value, out_len, "
     "err_offset): one eh_kernel_run over buffers read and written in place."},
    {"bind_guest", (PyCFunction)(void (*)(void))fc_bind_guest, METH_FASTCALL,
     "bind_guest(vm_offload_addr): eh_vm_offload in _native, for offload()."},
    {"offload", (PyCFunction)(void (*)(void))fc_offload, METH_FASTCALL,
     "offload(vm_addr, kernel, flags, arg0, arg1, data, data2, out) -> (rc, status, detail, "
     "value, out_len, err_offset, message): one eh_vm_offload over the same buffers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastcall",
    "The in-process per-call path of edgehost's Python kernel API (see fastcall.c).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastcall(void) { return PyModule_Create(&module); }
