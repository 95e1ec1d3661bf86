/* longwire._speedups: the optional C hot path (RFC 6455 §5.3 masking).
 *
 * The pure-Python twin is longwire.websocket._masking.apply_mask_python; the
 * same tests run on both. Build in place with
 * ``python setup.py build_ext --inplace``.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Above this size the XOR runs without the GIL, so other threads progress
 * while a large frame is (un)masked. Below it the release costs more than it
 * saves. */
#define RELEASE_GIL_THRESHOLD (1 << 20)

static void
xor_mask(const unsigned char *in, unsigned char *out, Py_ssize_t len,
         const unsigned char mask[4])
{
    /* The mask repeated to a machine word. memcpy keeps the bytes in wire
     * order whatever the endianness, and compiles to one unaligned load or
     * store, so neither alignment nor byte order needs handling. */
    unsigned char mask8[8];
    uint64_t mask64, word;
    Py_ssize_t i = 0;

    memcpy(mask8, mask, 4);
    memcpy(mask8 + 4, mask, 4);
    memcpy(&mask64, mask8, 8);

    for (; i + 8 <= len; i += 8) {
        memcpy(&word, in + i, 8);
        word ^= mask64;
        memcpy(out + i, &word, 8);
    }
    /* RFC 6455 §5.3: "octet i of the transformed data is the XOR of octet i
     * of the original data with octet at index i modulo 4 of the masking
     * key"; i is a multiple of 8 here, so the tail restarts at mask[0]. */
    for (; i < len; i++) {
        out[i] = in[i] ^ mask[i & 3];
    }
}

PyDoc_STRVAR(apply_mask_doc,
"apply_mask(data, mask, /)\n--\n\n"
"XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455 §5.3).\n\n"
"``data`` and ``mask`` may be any contiguous buffer (bytes, bytearray,\n"
"memoryview). Masking and unmasking are the same operation.\n\n"
"Returns:\n    the transformed bytes, as a new ``bytes`` object.\n\n"
"Raises:\n    ValueError: ``mask`` is not exactly 4 bytes long.\n"
"    TypeError: an argument does not support the buffer protocol.");

static PyObject *
apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, mask;
    PyObject *result = NULL;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "apply_mask() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &mask, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto done;
    }

    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result == NULL) {
        goto done;
    }
    if (data.len >= RELEASE_GIL_THRESHOLD) {
        /* Both buffers stay exported (so cannot be resized) while unlocked. */
        Py_BEGIN_ALLOW_THREADS
        xor_mask(data.buf, (unsigned char *)PyBytes_AS_STRING(result), data.len, mask.buf);
        Py_END_ALLOW_THREADS
    }
    else {
        xor_mask(data.buf, (unsigned char *)PyBytes_AS_STRING(result), data.len, mask.buf);
    }

done:
    PyBuffer_Release(&mask);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(join_and_unmask_doc,
"join_and_unmask(chunks, mask, /)\n--\n\n"
"``apply_mask(b\"\".join(chunks), mask)`` in one pass and one allocation.\n\n"
"A large payload arrives in pieces; joining them and then unmasking copies\n"
"it twice. ``chunks`` is a list of contiguous buffers.\n\n"
"Returns:\n    the unmasked bytes, as a new ``bytes`` object.\n\n"
"Raises:\n    ValueError: ``mask`` is not exactly 4 bytes long.\n"
"    TypeError: ``chunks`` is not a list, or holds a non-buffer.");

static PyObject *
join_and_unmask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer mask, chunk;
    PyObject *chunks, *result = NULL;
    Py_ssize_t count, i, total = 0, offset = 0;
    unsigned char rotated[4], *out;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "join_and_unmask() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    chunks = args[0];
    if (!PyList_Check(chunks)) {
        PyErr_SetString(PyExc_TypeError, "chunks must be a list");
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &mask, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto done;
    }
    count = PyList_GET_SIZE(chunks);
    for (i = 0; i < count; i++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(chunks, i), &chunk, PyBUF_SIMPLE) < 0) {
            goto done;
        }
        total += chunk.len;
        PyBuffer_Release(&chunk);
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) {
        goto done;
    }
    out = (unsigned char *)PyBytes_AS_STRING(result);
    for (i = 0; i < count && offset < total; i++) {
        Py_ssize_t k, len;
        if (PyObject_GetBuffer(PyList_GET_ITEM(chunks, i), &chunk, PyBUF_SIMPLE) < 0) {
            Py_CLEAR(result);
            goto done;
        }
        len = chunk.len < total - offset ? chunk.len : total - offset;
        /* RFC 6455 §5.3: byte i uses mask[i % 4]; a chunk starting at an offset
         * that is not a multiple of 4 starts with the mask rotated. */
        for (k = 0; k < 4; k++) {
            rotated[k] = ((unsigned char *)mask.buf)[(offset + k) & 3];
        }
        xor_mask(chunk.buf, out + offset, len, rotated);
        offset += len;
        PyBuffer_Release(&chunk);
    }

done:
    PyBuffer_Release(&mask);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL, apply_mask_doc},
    {"join_and_unmask", (PyCFunction)(void (*)(void))join_and_unmask, METH_FASTCALL,
     join_and_unmask_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef_Slot speedups_slots[] = {
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "longwire._speedups",
    .m_doc = "Optional C implementations of longwire's hot paths.",
    .m_size = 0,
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
