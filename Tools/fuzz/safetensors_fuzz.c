// libFuzzer target: the C kernel's safetensors reader (pk_tensor_file_open and the accessors), fed each input as
// a file. Built and run by Tools/fuzz; ASan and UBSan catch what the reader's own checks miss.
#define _GNU_SOURCE
#include "CPolicyKernel.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
    if (fd < 0) return 0;
    size_t written = 0;
    while (written < size) {
        ssize_t n = write(fd, data + written, size - written);
        if (n <= 0) break;
        written += (size_t)n;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    pk_tensor_file *file = NULL;
    char error[512];
    if (pk_tensor_file_open(path, &file, error, sizeof error) == PK_OK) {
        int count = pk_tensor_file_count(file);
        for (int i = 0; i < count; i++) {
            pk_tensor_info info;
            if (pk_tensor_file_at(file, i, &info) == PK_OK) {
                pk_tensor_info again;
                (void)pk_tensor_file_find(file, info.name, &again);
            }
        }
        (void)pk_tensor_file_metadata(file, "format");
        pk_tensor_file_close(file);
    }
    close(fd);
    return 0;
}
