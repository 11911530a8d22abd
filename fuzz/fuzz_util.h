/* Helpers shared by the libFuzzer harnesses (fuzz/fuzz_NAME.c): the input as a file, a small fixed gene table.
 * Header-only (each harness is one translation unit plus the library). */
#ifndef CG_FUZZ_UTIL_H
#define CG_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cellgraph/error.h"
#include "cellgraph/genes.h"

/* A file holding size bytes of data: an anonymous memory file (memfd, a regular file that disappears with
 * its descriptor) opened by readers through path = "/proc/self/fd/N". Returns the descriptor (close it
 * with close()), or -1 when the file cannot be made (the harness then skips the input). */
static inline int fuzz_file(const uint8_t *data, size_t size, char path[64]) {
    int fd = memfd_create("cg-fuzz", MFD_CLOEXEC);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* A NUL-terminated copy of the input (text parsers). NULL when out of memory. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return NULL;
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* The gene table of the harnesses: a few real yeast ORFs with standard names and aliases, a dotted id, an
 * alias shared by two genes (ambiguous), and the ho locus (YDL227C) that the phenotype readers treat
 * specially. The seed corpora use these names. */
static inline cg_genes *fuzz_genes(void) {
    static const char *const sys[] = {"YAL001C", "YAL002W", "YAL012W", "YBR001C", "YCR002C",
                                      "YDL227C", "YLR130C-A", "Q0045",  "YGR240C", "YOL086C"};
    static const char *const std[] = {"TFC3", "VPS8", "CYS3", "NTH2", "CDC10", "HO", "", "COX1", "PFK1", "ADH1"};
    static const char *const qual[] = {"Verified", "Verified", "Verified", "Verified", "Verified",
                                       "Verified", "Uncharacterized", "Verified", "Verified", "Verified"};
    static const char *const ali[] = {"FUN24|TSV115", "CORT2|VPL8", "STR1|SHARED1", "", "SHARED1",
                                      "", "", "OXI3", "", "ADC1"};
    cg_genes *g = NULL;
    if (cg_genes_create((int32_t)(sizeof sys / sizeof *sys), sys, std, qual, ali, &g) != CG_OK) abort();
    return g;
}

#endif
