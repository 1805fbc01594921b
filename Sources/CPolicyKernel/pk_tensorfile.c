/*
 * safetensors: map the file, parse the header strictly, validate every entry's layout.
 * What the tensors must be for a model (names, dtypes, shapes) is pk_model.c's business.
 */
#define _POSIX_C_SOURCE 200809L
#include "pk_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

pk_status pk_fail(char *error, size_t error_size, pk_status status, const char *format, ...) {
    if (error && error_size) {
        va_list args;
        va_start(args, format);
        vsnprintf(error, error_size, format, args);
        va_end(args);
    }
    return status;
}

static const struct {
    const char *name;
    pk_dtype dtype;
    size_t size;
} pk_dtypes[] = {
    {"F64", PK_DTYPE_F64, 8}, {"F32", PK_DTYPE_F32, 4}, {"F16", PK_DTYPE_F16, 2}, {"BF16", PK_DTYPE_BF16, 2},
    {"I64", PK_DTYPE_I64, 8}, {"I32", PK_DTYPE_I32, 4}, {"I16", PK_DTYPE_I16, 2}, {"I8", PK_DTYPE_I8, 1},
    {"U64", PK_DTYPE_U64, 8}, {"U32", PK_DTYPE_U32, 4}, {"U16", PK_DTYPE_U16, 2}, {"U8", PK_DTYPE_U8, 1},
    {"BOOL", PK_DTYPE_BOOL, 1},
};
#define PK_DTYPE_COUNT (sizeof pk_dtypes / sizeof pk_dtypes[0])

size_t pk_dtype_size(pk_dtype dtype) {
    for (size_t i = 0; i < PK_DTYPE_COUNT; i++)
        if (pk_dtypes[i].dtype == dtype) return pk_dtypes[i].size;
    return 0;
}

const char *pk_dtype_name(pk_dtype dtype) {
    for (size_t i = 0; i < PK_DTYPE_COUNT; i++)
        if (pk_dtypes[i].dtype == dtype) return pk_dtypes[i].name;
    return "unknown";
}

static pk_dtype pk_dtype_parse(const char *s) {
    for (size_t i = 0; i < PK_DTYPE_COUNT; i++)
        if (strcmp(pk_dtypes[i].name, s) == 0) return pk_dtypes[i].dtype;
    return PK_DTYPE_UNKNOWN;
}

/* Writes "[a, b, c]" into out. */
static void pk_format_shape(char *out, size_t size, const int64_t *shape, int rank) {
    size_t used = 0;
    used += (size_t)snprintf(out, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < size) snprintf(out + used, size - used, "]");
}

void pk_tensor_file_close(pk_tensor_file *file) {
    if (!file) return;
    if (file->map) munmap(file->map, file->map_size);
    free(file->tensors);
    free(file->meta);
    free(file->strings);
    free(file);
}

static int pk_compare_names(const void *a, const void *b) {
    const pk_tensor_entry *x = *(pk_tensor_entry *const *)a, *y = *(pk_tensor_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int pk_compare_spans(const void *a, const void *b) {
    const pk_tensor_entry *x = *(pk_tensor_entry *const *)a, *y = *(pk_tensor_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Copies a decoded JSON string into the file's own string store. */
static char *pk_keep(char **cursor, const char *s, size_t n) {
    char *out = *cursor;
    memcpy(out, s, n);
    out[n] = '\0';
    *cursor += n + 1;
    return out;
}

/* Validates the parsed header and fills file->tensors / file->meta. */
static pk_status pk_read_header(pk_tensor_file *file, const pj_doc *doc, const uint8_t *data, size_t header_text_size,
                                char *error, size_t error_size) {
    const pj_node *root = &doc->nodes[0];
    if (root->type != PJ_OBJECT) return pk_fail(error, error_size, PK_ERR_FORMAT, "header: not a JSON object");
    /* Strings are copied out of the parser's store: a name's bytes never exceed the header's. */
    file->strings = malloc(header_text_size + 1);
    int members = root->count;
    file->tensors = calloc((size_t)(members ? members : 1), sizeof(pk_tensor_entry));
    if (!file->strings || !file->tensors) return pk_fail(error, error_size, PK_ERR_IO, "out of memory");
    char *cursor = file->strings;
    int metadata_seen = 0;
    for (int i = root->first; i >= 0; i = doc->nodes[i].next) {
        const pj_node *entry = &doc->nodes[i];
        if (strcmp(entry->key, "__metadata__") == 0 && entry->key_len == 12) {
            if (metadata_seen) return pk_fail(error, error_size, PK_ERR_FORMAT, "header: duplicate __metadata__");
            metadata_seen = 1;
            if (entry->type != PJ_OBJECT)
                return pk_fail(error, error_size, PK_ERR_FORMAT, "header: __metadata__ is not an object");
            file->meta = calloc((size_t)(entry->count ? entry->count : 1), sizeof(pk_meta_entry));
            if (!file->meta) return pk_fail(error, error_size, PK_ERR_IO, "out of memory");
            for (int j = entry->first; j >= 0; j = doc->nodes[j].next) {
                const pj_node *m = &doc->nodes[j];
                if (m->type != PJ_STRING)
                    return pk_fail(error, error_size, PK_ERR_FORMAT, "header: __metadata__ '%.100s' is not a string",
                                   m->key);
                for (int k = 0; k < file->meta_count; k++)
                    if (strcmp(file->meta[k].key, m->key) == 0)
                        return pk_fail(error, error_size, PK_ERR_FORMAT, "header: duplicate __metadata__ key '%.100s'",
                                       m->key);
                if (strlen(m->str) != m->str_len)
                    return pk_fail(error, error_size, PK_ERR_FORMAT, "header: __metadata__ '%.100s' holds a NUL",
                                   m->key);
                pk_meta_entry *out = &file->meta[file->meta_count++];
                out->key = pk_keep(&cursor, m->key, m->key_len);
                out->value = pk_keep(&cursor, m->str, m->str_len);
            }
            continue;
        }
        pk_tensor_entry *t = &file->tensors[file->count];
        t->name = pk_keep(&cursor, entry->key, entry->key_len);
        if (strlen(t->name) != entry->key_len)
            return pk_fail(error, error_size, PK_ERR_FORMAT, "header: a tensor name holds a NUL");
        if (entry->type != PJ_OBJECT)
            return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': entry is not an object", t->name);
        const pj_node *dtype = NULL, *shape = NULL, *offsets = NULL;
        for (int j = entry->first; j >= 0; j = doc->nodes[j].next) {
            const pj_node *f = &doc->nodes[j];
            const pj_node **slot = NULL;
            if (strcmp(f->key, "dtype") == 0) slot = &dtype;
            else if (strcmp(f->key, "shape") == 0) slot = &shape;
            else if (strcmp(f->key, "data_offsets") == 0) slot = &offsets;
            else
                return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': unknown field '%.60s'", t->name,
                               f->key);
            if (*slot)
                return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': duplicate field '%s'", t->name,
                               f->key);
            *slot = f;
        }
        if (!dtype) return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': missing 'dtype'", t->name);
        if (!shape) return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': missing 'shape'", t->name);
        if (!offsets)
            return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': missing 'data_offsets'", t->name);
        if (dtype->type != PJ_STRING)
            return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': dtype is not a string", t->name);
        t->dtype = pk_dtype_parse(dtype->str);
        if (t->dtype == PK_DTYPE_UNKNOWN)
            return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': unknown dtype '%.20s'", t->name,
                           dtype->str);
        if (shape->type != PJ_ARRAY)
            return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': shape is not an array", t->name);
        if (shape->count > PK_MAX_RANK)
            return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': rank %d exceeds %d", t->name,
                           shape->count, PK_MAX_RANK);
        uint64_t elements = 1;
        for (int j = shape->first; j >= 0; j = doc->nodes[j].next) {
            const pj_node *s = &doc->nodes[j];
            if (s->type != PJ_NUMBER || !s->is_uint || s->uint_value > (UINT64_C(1) << 40))
                return pk_fail(error, error_size, PK_ERR_FORMAT,
                               "tensor '%.100s': shape holds something other than an integer 0…2^40", t->name);
            t->shape[t->rank++] = (int64_t)s->uint_value;
            /* Overflow-checked: the product stays below 2^62 or we stop. */
            if (s->uint_value && elements > (UINT64_C(1) << 62) / s->uint_value)
                return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': shape has too many elements",
                               t->name);
            elements *= s->uint_value;
        }
        if (offsets->type != PJ_ARRAY || offsets->count != 2)
            return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': data_offsets is not [begin, end]",
                           t->name);
        const pj_node *b = &doc->nodes[offsets->first], *e = &doc->nodes[b->next];
        if (b->type != PJ_NUMBER || !b->is_uint || e->type != PJ_NUMBER || !e->is_uint)
            return pk_fail(error, error_size, PK_ERR_FORMAT,
                           "tensor '%.100s': data_offsets must be non-negative integers", t->name);
        t->begin = b->uint_value;
        t->end = e->uint_value;
        if (t->begin > t->end)
            return pk_fail(error, error_size, PK_ERR_FORMAT, "tensor '%.100s': data_offsets [%llu, %llu] end before they begin",
                           t->name, (unsigned long long)t->begin, (unsigned long long)t->end);
        if (t->end > file->data_size)
            return pk_fail(error, error_size, PK_ERR_FORMAT,
                           "tensor '%.100s': data_offsets [%llu, %llu] beyond the data section (%llu bytes)", t->name,
                           (unsigned long long)t->begin, (unsigned long long)t->end,
                           (unsigned long long)file->data_size);
        size_t element_size = pk_dtype_size(t->dtype);
        if (elements > (UINT64_C(1) << 62) / element_size || t->end - t->begin != elements * element_size) {
            char dims[160];
            pk_format_shape(dims, sizeof dims, t->shape, t->rank);
            return pk_fail(error, error_size, PK_ERR_FORMAT,
                           "tensor '%.100s': data_offsets [%llu, %llu] hold %llu bytes, %s %s needs %llu", t->name,
                           (unsigned long long)t->begin, (unsigned long long)t->end,
                           (unsigned long long)(t->end - t->begin), pk_dtype_name(t->dtype), dims,
                           (unsigned long long)(elements * element_size));
        }
        t->data = data + t->begin;
        file->count++;
    }
    if (file->count == 0)
        return file->data_size ? pk_fail(error, error_size, PK_ERR_FORMAT,
                                         "data section: bytes [0, %llu) belong to no tensor",
                                         (unsigned long long)file->data_size)
                               : PK_OK;
    /* Duplicates (sorted by name) and layout (sorted by offset): no overlaps, no gaps, nothing after the end. */
    pk_tensor_entry **order = malloc((size_t)file->count * sizeof *order);
    if (!order) return pk_fail(error, error_size, PK_ERR_IO, "out of memory");
    for (int i = 0; i < file->count; i++) order[i] = &file->tensors[i];
    qsort(order, (size_t)file->count, sizeof *order, pk_compare_names);
    for (int i = 1; i < file->count; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            pk_status s = pk_fail(error, error_size, PK_ERR_FORMAT, "header: duplicate tensor '%.100s'", order[i]->name);
            free(order);
            return s;
        }
    qsort(order, (size_t)file->count, sizeof *order, pk_compare_spans);
    uint64_t position = 0;
    const pk_tensor_entry *previous = NULL;
    for (int i = 0; i < file->count; i++) {
        const pk_tensor_entry *t = order[i];
        if (t->begin < position) {
            pk_status s = pk_fail(error, error_size, PK_ERR_FORMAT,
                                  "tensors '%.100s' and '%.100s' overlap: data_offsets [%llu, %llu] and [%llu, %llu]",
                                  previous->name, t->name, (unsigned long long)previous->begin,
                                  (unsigned long long)previous->end, (unsigned long long)t->begin,
                                  (unsigned long long)t->end);
            free(order);
            return s;
        }
        if (t->begin > position) {
            pk_status s = pk_fail(error, error_size, PK_ERR_FORMAT,
                                  "data section: bytes [%llu, %llu) before tensor '%.100s' belong to no tensor",
                                  (unsigned long long)position, (unsigned long long)t->begin, t->name);
            free(order);
            return s;
        }
        position = t->end;
        previous = t;
    }
    free(order);
    if (position != file->data_size)
        return pk_fail(error, error_size, PK_ERR_FORMAT,
                       "data section: bytes [%llu, %llu) after the last tensor belong to no tensor",
                       (unsigned long long)position, (unsigned long long)file->data_size);
    return PK_OK;
}

pk_status pk_tensor_file_open(const char *path, pk_tensor_file **out, char *error, size_t error_size) {
    if (error && error_size) error[0] = '\0';
    if (!out) return pk_fail(error, error_size, PK_ERR_ARGUMENT, "file: null output pointer");
    *out = NULL;
    if (!path) return pk_fail(error, error_size, PK_ERR_ARGUMENT, "file: null path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pk_fail(error, error_size, PK_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pk_fail(error, error_size, PK_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pk_fail(error, error_size, PK_ERR_IO, "'%s' is not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        close(fd);
        return pk_fail(error, error_size, PK_ERR_FORMAT,
                       "file truncated: %llu bytes, shorter than the 8-byte header length", (unsigned long long)size);
    }
    if (size > (uint64_t)SIZE_MAX / 2) {
        close(fd);
        return pk_fail(error, error_size, PK_ERR_FORMAT, "file too large: %llu bytes", (unsigned long long)size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return pk_fail(error, error_size, PK_ERR_IO, "cannot map '%s': %s", path, strerror(e));
    pk_tensor_file *file = calloc(1, sizeof *file);
    if (!file) {
        munmap(map, (size_t)size);
        return pk_fail(error, error_size, PK_ERR_IO, "out of memory");
    }
    file->map = map;
    file->map_size = (size_t)size;
    const uint8_t *bytes = map;
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) header = header << 8 | bytes[i];
    pk_status status = PK_OK;
    if (header > PK_LIMIT_HEADER) {
        status = pk_fail(error, error_size, PK_ERR_FORMAT, "header: length %llu exceeds the limit of %u bytes",
                         (unsigned long long)header, (unsigned)PK_LIMIT_HEADER);
    } else if (header > size - 8) {
        status = pk_fail(error, error_size, PK_ERR_FORMAT,
                         "file truncated: header says %llu bytes, file has %llu after the 8-byte length",
                         (unsigned long long)header, (unsigned long long)(size - 8));
    } else {
        file->header_size = header;
        file->data_size = size - 8 - header;
        pj_doc doc;
        char message[200];
        if (pj_parse((const char *)bytes + 8, (size_t)header, &doc, message, sizeof message) != 0) {
            status = pk_fail(error, error_size, PK_ERR_FORMAT, "header: %s", message);
        } else {
            status = pk_read_header(file, &doc, bytes + 8 + header, (size_t)header, error, error_size);
            pj_free(&doc);
        }
    }
    if (status != PK_OK) {
        pk_tensor_file_close(file);
        return status;
    }
    *out = file;
    return PK_OK;
}

int pk_tensor_file_count(const pk_tensor_file *file) { return file ? file->count : 0; }

static void pk_fill_info(const pk_tensor_entry *t, pk_tensor_info *info) {
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->dtype = t->dtype;
    info->rank = t->rank;
    for (int i = 0; i < t->rank; i++) info->shape[i] = t->shape[i];
    info->data = t->data;
    info->bytes = t->end - t->begin;
}

pk_status pk_tensor_file_at(const pk_tensor_file *file, int index, pk_tensor_info *info) {
    if (!file || !info || index < 0 || index >= file->count) return PK_ERR_ARGUMENT;
    pk_fill_info(&file->tensors[index], info);
    return PK_OK;
}

pk_status pk_tensor_file_find(const pk_tensor_file *file, const char *name, pk_tensor_info *info) {
    if (!file || !name || !info) return PK_ERR_ARGUMENT;
    for (int i = 0; i < file->count; i++)
        if (strcmp(file->tensors[i].name, name) == 0) {
            pk_fill_info(&file->tensors[i], info);
            return PK_OK;
        }
    return PK_ERR_TENSOR;
}

const char *pk_tensor_file_metadata(const pk_tensor_file *file, const char *key) {
    if (!file || !key) return NULL;
    for (int i = 0; i < file->meta_count; i++)
        if (strcmp(file->meta[i].key, key) == 0) return file->meta[i].value;
    return NULL;
}
