/*
 * A small strict JSON parser for safetensors headers: RFC 8259 grammar (objects, arrays, strings with every
 * escape, numbers, literals), UTF-8 validated; duplicate keys are the caller's to refuse. Iterative (an
 * explicit stack bounded by PJ_MAX_DEPTH), so hostile nesting cannot exhaust the C stack; nodes bounded too.
 * Output: a flat array of nodes linked first-child / next-sibling, strings decoded into one buffer.
 */
#include "pk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PJ_MAX_DEPTH 32
#define PJ_MAX_NODES (1 << 20)

typedef struct pj_parser {
    const char *text;
    size_t length;
    size_t pos;
    pj_node *nodes;
    int count, capacity;
    char *strings;
    size_t strings_used;
    char *error;
    size_t error_size;
} pj_parser;

static int pj_error(pj_parser *p, size_t at, const char *message) {
    if (p->error && p->error_size) snprintf(p->error, p->error_size, "JSON error at byte %zu: %s", at, message);
    return -1;
}

static void pj_skip_ws(pj_parser *p) {
    while (p->pos < p->length) {
        char c = p->text[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
        else break;
    }
}

static int pj_new_node(pj_parser *p, int type, size_t offset) {
    if (p->count >= PJ_MAX_NODES) return pj_error(p, offset, "too many values");
    if (p->count == p->capacity) {
        int capacity = p->capacity ? p->capacity * 2 : 64;
        pj_node *nodes = realloc(p->nodes, (size_t)capacity * sizeof(pj_node));
        if (!nodes) return pj_error(p, offset, "out of memory");
        p->nodes = nodes;
        p->capacity = capacity;
    }
    pj_node *n = &p->nodes[p->count];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->first = -1;
    n->next = -1;
    n->offset = offset;
    return p->count++;
}

static int pj_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int pj_read_u4(pj_parser *p, unsigned *out) {
    if (p->length - p->pos < 4) return pj_error(p, p->pos, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = pj_hex(p->text[p->pos + (size_t)i]);
        if (h < 0) return pj_error(p, p->pos + (size_t)i, "invalid \\u escape");
        v = v * 16 + (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static void pj_put_utf8(pj_parser *p, unsigned cp) {
    char *o = p->strings + p->strings_used;
    if (cp < 0x80) {
        o[0] = (char)cp;
        p->strings_used += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        p->strings_used += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        p->strings_used += 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        p->strings_used += 4;
    }
}

/* Length of a valid UTF-8 sequence starting at s (n bytes available), or 0. */
static size_t pj_utf8_length(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogates */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && s[1] >= 0x90) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

/* Parses a string at p->pos (which holds '"'); decodes into the string buffer (NUL-terminated). */
static int pj_string(pj_parser *p, const char **out, size_t *out_len) {
    size_t start = p->pos;
    p->pos++; /* opening quote */
    char *begin = p->strings + p->strings_used;
    for (;;) {
        if (p->pos >= p->length) return pj_error(p, start, "unterminated string");
        unsigned char c = (unsigned char)p->text[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) return pj_error(p, p->pos, "control character in string");
        if (c == '\\') {
            size_t at = p->pos;
            p->pos++;
            if (p->pos >= p->length) return pj_error(p, at, "unterminated string");
            char e = p->text[p->pos++];
            switch (e) {
            case '"': p->strings[p->strings_used++] = '"'; break;
            case '\\': p->strings[p->strings_used++] = '\\'; break;
            case '/': p->strings[p->strings_used++] = '/'; break;
            case 'b': p->strings[p->strings_used++] = '\b'; break;
            case 'f': p->strings[p->strings_used++] = '\f'; break;
            case 'n': p->strings[p->strings_used++] = '\n'; break;
            case 'r': p->strings[p->strings_used++] = '\r'; break;
            case 't': p->strings[p->strings_used++] = '\t'; break;
            case 'u': {
                unsigned cp;
                if (pj_read_u4(p, &cp)) return -1;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return pj_error(p, at, "unpaired low surrogate");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (p->length - p->pos < 2 || p->text[p->pos] != '\\' || p->text[p->pos + 1] != 'u')
                        return pj_error(p, at, "unpaired high surrogate");
                    p->pos += 2;
                    if (pj_read_u4(p, &lo)) return -1;
                    if (lo < 0xDC00 || lo > 0xDFFF) return pj_error(p, at, "unpaired high surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0) return pj_error(p, at, "NUL character in string");
                /* A \uXXXX escape takes 6 source bytes and decodes to at most 3 (4 for a 12-byte pair). */
                pj_put_utf8(p, cp);
                break;
            }
            default: return pj_error(p, at, "invalid escape");
            }
            continue;
        }
        size_t n = pj_utf8_length((const unsigned char *)p->text + p->pos, p->length - p->pos);
        if (n == 0) return pj_error(p, p->pos, "invalid UTF-8");
        memcpy(p->strings + p->strings_used, p->text + p->pos, n);
        p->strings_used += n;
        p->pos += n;
    }
    p->strings[p->strings_used++] = '\0';
    *out = begin;
    *out_len = (size_t)(p->strings + p->strings_used - 1 - begin);
    return 0;
}

static int pj_number(pj_parser *p, pj_node *node) {
    size_t start = p->pos;
    const char *t = p->text;
    size_t n = p->length;
    int negative = 0, integer = 1;
    if (p->pos < n && t[p->pos] == '-') {
        negative = 1;
        p->pos++;
    }
    if (p->pos >= n || t[p->pos] < '0' || t[p->pos] > '9') return pj_error(p, start, "invalid number");
    uint64_t value = 0;
    int overflow = 0;
    if (t[p->pos] == '0') {
        p->pos++;
        if (p->pos < n && t[p->pos] >= '0' && t[p->pos] <= '9') return pj_error(p, start, "leading zero in number");
    } else {
        while (p->pos < n && t[p->pos] >= '0' && t[p->pos] <= '9') {
            unsigned digit = (unsigned)(t[p->pos] - '0');
            if (value > (UINT64_C(1) << 53) / 10) overflow = 1;
            else value = value * 10 + digit;
            p->pos++;
        }
    }
    if (p->pos < n && t[p->pos] == '.') {
        integer = 0;
        p->pos++;
        if (p->pos >= n || t[p->pos] < '0' || t[p->pos] > '9') return pj_error(p, p->pos, "invalid number");
        while (p->pos < n && t[p->pos] >= '0' && t[p->pos] <= '9') p->pos++;
    }
    if (p->pos < n && (t[p->pos] == 'e' || t[p->pos] == 'E')) {
        integer = 0;
        p->pos++;
        if (p->pos < n && (t[p->pos] == '+' || t[p->pos] == '-')) p->pos++;
        if (p->pos >= n || t[p->pos] < '0' || t[p->pos] > '9') return pj_error(p, p->pos, "invalid number");
        while (p->pos < n && t[p->pos] >= '0' && t[p->pos] <= '9') p->pos++;
    }
    node->is_uint = integer && !negative && !overflow && value <= (UINT64_C(1) << 53);
    node->uint_value = node->is_uint ? value : 0;
    node->str = t + start;
    node->str_len = p->pos - start;
    return 0;
}

static int pj_literal(pj_parser *p, const char *word, int type, int *index) {
    size_t n = strlen(word);
    if (p->length - p->pos < n || memcmp(p->text + p->pos, word, n) != 0) return pj_error(p, p->pos, "expected a value");
    *index = pj_new_node(p, type, p->pos);
    if (*index < 0) return -1;
    p->pos += n;
    return 0;
}

typedef struct pj_frame {
    int node;
    int last_child;
} pj_frame;

/* Appends child to the container on top of the stack. (Duplicate keys are the caller's to check: it can sort.) */
static int pj_attach(pj_parser *p, pj_frame *top, int child) {
    pj_node *parent = &p->nodes[top->node];
    if (top->last_child < 0) parent->first = child;
    else p->nodes[top->last_child].next = child;
    top->last_child = child;
    parent->count++;
    return 0;
}

int pj_parse(const char *text, size_t length, pj_doc *doc, char *error, size_t error_size) {
    memset(doc, 0, sizeof *doc);
    pj_parser p = {.text = text, .length = length, .error = error, .error_size = error_size};
    /* Decoded strings never exceed their source, plus one NUL per string: length + 1 + length/2 bounds it. */
    p.strings = malloc(length + length / 2 + 16);
    if (!p.strings) return pj_error(&p, 0, "out of memory");
    pj_frame stack[PJ_MAX_DEPTH];
    int depth = 0;
    int root = -1;
    const char *pending_key = NULL;
    size_t pending_key_len = 0;

    /* States: expecting a value; or, inside a container, a member/element or the closing bracket. */
    enum { VALUE, OBJECT_FIRST, OBJECT_NEXT, ARRAY_FIRST, ARRAY_NEXT } state = VALUE;
    for (;;) {
        pj_skip_ws(&p);
        if (state == OBJECT_FIRST || state == OBJECT_NEXT) {
            if (p.pos >= length) goto truncated;
            char c = text[p.pos];
            if (c == '}') {
                p.pos++;
                depth--;
                goto closed;
            }
            if (state == OBJECT_NEXT) {
                if (c != ',') {
                    pj_error(&p, p.pos, "expected ',' or '}'");
                    goto fail;
                }
                p.pos++;
                pj_skip_ws(&p);
                if (p.pos >= length) goto truncated;
                c = text[p.pos];
            }
            if (c != '"') {
                pj_error(&p, p.pos, "expected a string key");
                goto fail;
            }
            if (pj_string(&p, &pending_key, &pending_key_len)) goto fail;
            pj_skip_ws(&p);
            if (p.pos >= length) goto truncated;
            if (text[p.pos] != ':') {
                pj_error(&p, p.pos, "expected ':'");
                goto fail;
            }
            p.pos++;
            state = VALUE;
            continue;
        }
        if (state == ARRAY_FIRST || state == ARRAY_NEXT) {
            if (p.pos >= length) goto truncated;
            char c = text[p.pos];
            if (c == ']') {
                p.pos++;
                depth--;
                goto closed;
            }
            if (state == ARRAY_NEXT) {
                if (c != ',') {
                    pj_error(&p, p.pos, "expected ',' or ']'");
                    goto fail;
                }
                p.pos++;
            }
            pending_key = NULL;
            state = VALUE;
            continue;
        }
        /* VALUE */
        {
            if (p.pos >= length) goto truncated;
            char c = text[p.pos];
            int index;
            size_t at = p.pos;
            if (c == '{' || c == '[') {
                if (depth >= PJ_MAX_DEPTH) {
                    pj_error(&p, at, "nesting deeper than 32");
                    goto fail;
                }
                index = pj_new_node(&p, c == '{' ? PJ_OBJECT : PJ_ARRAY, at);
                if (index < 0) goto fail;
                p.nodes[index].key = pending_key;
                p.nodes[index].key_len = pending_key_len;
                if (depth > 0 && pj_attach(&p, &stack[depth - 1], index)) goto fail;
                if (depth == 0) root = index;
                p.pos++;
                stack[depth].node = index;
                stack[depth].last_child = -1;
                depth++;
                state = c == '{' ? OBJECT_FIRST : ARRAY_FIRST;
                continue;
            }
            if (c == '"') {
                index = pj_new_node(&p, PJ_STRING, at);
                if (index < 0) goto fail;
                const char *s;
                size_t n;
                if (pj_string(&p, &s, &n)) goto fail;
                p.nodes[index].str = s;
                p.nodes[index].str_len = n;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                index = pj_new_node(&p, PJ_NUMBER, at);
                if (index < 0) goto fail;
                if (pj_number(&p, &p.nodes[index])) goto fail;
            } else if (c == 't') {
                if (pj_literal(&p, "true", PJ_TRUE, &index)) goto fail;
            } else if (c == 'f') {
                if (pj_literal(&p, "false", PJ_FALSE, &index)) goto fail;
            } else if (c == 'n') {
                if (pj_literal(&p, "null", PJ_NULL, &index)) goto fail;
            } else {
                pj_error(&p, at, "expected a value");
                goto fail;
            }
            p.nodes[index].key = pending_key;
            p.nodes[index].key_len = pending_key_len;
            if (depth > 0) {
                if (pj_attach(&p, &stack[depth - 1], index)) goto fail;
            } else {
                root = index;
            }
        }
    closed:
        if (depth == 0) break;
        state = p.nodes[stack[depth - 1].node].type == PJ_OBJECT ? OBJECT_NEXT : ARRAY_NEXT;
    }
    pj_skip_ws(&p);
    if (p.pos != length) {
        pj_error(&p, p.pos, "unexpected text after the top-level value");
        goto fail;
    }
    (void)root; /* the root is node 0 */
    doc->nodes = p.nodes;
    doc->count = p.count;
    doc->strings = p.strings;
    return 0;
truncated:
    pj_error(&p, p.pos, "unexpected end of header");
fail:
    free(p.nodes);
    free(p.strings);
    return -1;
}

void pj_free(pj_doc *doc) {
    free(doc->nodes);
    free(doc->strings);
    memset(doc, 0, sizeof *doc);
}
