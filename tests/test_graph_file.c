/* Graph files that are not what they claim: crafted with the safetensors writer from a tiny valid graph
 * (2 genes, 1 reaction node, 1 metabolite), one table damaged at a time. Every index and offset is checked
 * at load, before anything is read through it: each damage is a clean CG_ERR_FORMAT naming the file and
 * the table (run under ASan/UBSan: no out-of-bounds read, no use after free, no misaligned load). Also:
 * a checkpoint-like file (another `format`), a valid file whose header length leaves its data unaligned,
 * `graph info` on a graph with an empty node type, and a named pipe (an error at once, never a wait for
 * a writer). */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cellgraph/graph.h"
#include "cellgraph/safetensors.h"
#include "testutil.h"

/* ------------------------------------------------------------------ the tiny graph */

#define NG 2 /* genes */
#define NR 1 /* reaction nodes */
#define NM 1 /* metabolites */

typedef struct strtab {
    int64_t off[8];
    char bytes[64];
    int64_t n, nb; /* strings, bytes */
} strtab;

typedef struct mini {
    const char *format;
    strtab gene_name, gene_std, gene_alias, gene_qual, reaction_name, gem_id, gem_name, met_name, met_comp;
    int32_t gem_index[NR], direction[NR], term_genes[1];
    int64_t term_ptr[NR + 1];
    int64_t n_term;
    /* the six default relations; only regulatory has an edge (gene 0 -> gene 1) */
    int64_t rowptr[CG_RELATIONS][8];
    int32_t src[CG_RELATIONS][4], dst[CG_RELATIONS][4];
    float attr[CG_RELATIONS][4];
    int64_t n_edges[CG_RELATIONS];
} mini;

static void strtab_set(strtab *t, int n, const char *const *s) {
    memset(t, 0, sizeof *t);
    t->n = n;
    for (int i = 0; i < n; i++) {
        t->off[i] = t->nb;
        size_t l = strlen(s[i]) + 1;
        memcpy(t->bytes + t->nb, s[i], l);
        t->nb += (int64_t)l;
    }
    t->off[n] = t->nb;
}

static void mini_init(mini *m) {
    memset(m, 0, sizeof *m);
    m->format = "cellgraph.graph/1";
    strtab_set(&m->gene_name, NG, (const char *const[]){"YAA001W", "YAA002W"});
    strtab_set(&m->gene_std, NG, (const char *const[]){"ABC1", ""});
    strtab_set(&m->gene_alias, NG, (const char *const[]){"", ""});
    strtab_set(&m->gene_qual, NG, (const char *const[]){"Verified", "Verified"});
    strtab_set(&m->reaction_name, NR, (const char *const[]){"r_0001_0"});
    strtab_set(&m->gem_id, 1, (const char *const[]){"r_0001"});
    strtab_set(&m->gem_name, 1, (const char *const[]){"a reaction"});
    strtab_set(&m->met_name, NM, (const char *const[]){"s_0001"});
    strtab_set(&m->met_comp, NM, (const char *const[]){"c"});
    m->term_ptr[1] = 1;
    m->n_term = 1;
    m->rowptr[CG_REL_REGULATORY][2] = 1; /* edge 0 -> 1: into node 1 */
    m->src[CG_REL_REGULATORY][0] = 0;
    m->dst[CG_REL_REGULATORY][0] = 1;
    m->n_edges[CG_REL_REGULATORY] = 1;
}

static int64_t n_metabolites = NM; /* 0 for a graph without metabolites */

static int64_t n_nodes(cg_node_type t) { return t == CG_GENE ? NG : t == CG_REACTION ? NR : n_metabolites; }

static void add(cg_safetensors_writer *w, const char *name, cg_st_dtype dt, int64_t n, const void *data) {
    assert_int_equal(cg_safetensors_writer_add(w, name, dt, 1, &n, data), CG_OK);
}

static void add_strtab(cg_safetensors_writer *w, const char *prefix, const strtab *t) {
    char name[96];
    snprintf(name, sizeof name, "%s.offsets", prefix);
    add(w, name, CG_ST_I64, t->n + 1, t->off);
    snprintf(name, sizeof name, "%s.bytes", prefix);
    add(w, name, CG_ST_U8, t->nb, t->bytes);
}

static void mini_write(const mini *m, const char *path) {
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    const cg_relation_desc *d = cg_relation_descs(NULL);
    for (int r = 0; r < CG_RELATIONS; r++) {
        char name[96];
        snprintf(name, sizeof name, "%s.rowptr", d[r].name);
        add(&w, name, CG_ST_I64, n_nodes(d[r].dst_type) + 1, m->rowptr[r]);
        snprintf(name, sizeof name, "%s.src", d[r].name);
        add(&w, name, CG_ST_I32, m->n_edges[r], m->src[r]);
        snprintf(name, sizeof name, "%s.dst", d[r].name);
        add(&w, name, CG_ST_I32, m->n_edges[r], m->dst[r]);
        if (d[r].attr_width > 0) {
            snprintf(name, sizeof name, "%s.%s", d[r].name, d[r].attr_name);
            add(&w, name, CG_ST_F32, m->n_edges[r], m->attr[r]);
        }
    }
    add(&w, "reaction.gem_index", CG_ST_I32, NR, m->gem_index);
    add(&w, "reaction.direction", CG_ST_I32, NR, m->direction);
    add(&w, "reaction.term_ptr", CG_ST_I64, NR + 1, m->term_ptr);
    add(&w, "reaction.term_genes", CG_ST_I32, m->n_term, m->term_genes);
    add_strtab(&w, "gene.name", &m->gene_name);
    add_strtab(&w, "gene.standard_name", &m->gene_std);
    add_strtab(&w, "gene.aliases", &m->gene_alias);
    add_strtab(&w, "gene.qualifier", &m->gene_qual);
    add_strtab(&w, "reaction.name", &m->reaction_name);
    add_strtab(&w, "gem_reaction.id", &m->gem_id);
    add_strtab(&w, "gem_reaction.name", &m->gem_name);
    add_strtab(&w, "metabolite.name", &m->met_name);
    add_strtab(&w, "metabolite.compartment", &m->met_comp);
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "format", m->format), CG_OK);
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "recipe", "test"), CG_OK);
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_OK);
    cg_safetensors_writer_free(&w);
}

/* loads path expecting CG_ERR_FORMAT with a message naming the file and containing want (and want2) */
static void expect_bad(const char *path, const char *want, const char *want2) {
    cg_graph *g = (cg_graph *)&g;
    cg_status s = cg_graph_load(path, &g);
    const char *msg = cg_last_error();
    if (s != CG_ERR_FORMAT || !strstr(msg, path) || !strstr(msg, want) || (want2 && !strstr(msg, want2)))
        fail_msg("expected a format error naming '%s' and '%s': status %d, message: %s", want, want2 ? want2 : "",
                 (int)s, msg);
    assert_null(g);
}

/* ------------------------------------------------------------------ tests */

/* the crafted graph is valid as it is: every damage below is the only thing wrong with its file */
static void test_valid_mini(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "mini.graph.safetensors");
    mini m;
    mini_init(&m);
    mini_write(&m, path);
    cg_graph *g = NULL;
    if (cg_graph_load(path, &g) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_graph_num_nodes(g, CG_GENE), NG);
    assert_int_equal(cg_graph_num_nodes(g, CG_REACTION), NR);
    assert_int_equal(cg_graph_num_nodes(g, CG_METABOLITE), NM);
    assert_string_equal(cg_graph_node_name(g, CG_GENE, 1), "YAA002W");
    assert_string_equal(cg_graph_gene_standard_name(g, 0), "ABC1");
    assert_int_equal(cg_graph_relation(g, CG_REL_REGULATORY)->n_edges, 1);
    cg_graph_free(g);
    remove(path);
}

/* item 3: a checkpoint (or any safetensors file of another format) is refused with the format it has;
 * the message was formatted from metadata freed just before (ASan: heap-use-after-free) */
static void test_other_format(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "checkpoint_like.safetensors");
    mini m;
    mini_init(&m);
    m.format = "cellgraph.checkpoint/1 (a model's parameters, not a graph)";
    mini_write(&m, path);
    expect_bad(path, "metadata format is 'cellgraph.checkpoint/1 (a model's parameters, not a graph)'",
               "expected 'cellgraph.graph/1'");
    /* and a file without any format */
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    float x[2] = {1, 2};
    int64_t n = 2;
    assert_int_equal(cg_safetensors_writer_add(&w, "layers.0.weight", CG_ST_F32, 1, &n, x), CG_OK);
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_OK);
    cg_safetensors_writer_free(&w);
    expect_bad(path, "metadata format is '(none)'", NULL);
    remove(path);
}

/* item 9: string-table offsets outside the bytes, out of order, or strings not NUL-terminated; the
 * first three read far out of bounds when offsets were used before they were checked */
static void test_bad_string_tables(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "bad_strtab.safetensors");
    mini m;

    mini_init(&m);
    m.gene_name.off[1] = (int64_t)1 << 40; /* a middle offset far past the bytes */
    mini_write(&m, path);
    expect_bad(path, "string table 'gene.name'", "inconsistent");

    mini_init(&m);
    m.met_comp.off[1] = m.met_comp.nb + 3; /* only offset past the end (the last must equal the byte count) */
    mini_write(&m, path);
    expect_bad(path, "string table 'metabolite.compartment'", NULL);

    mini_init(&m);
    m.gene_qual.off[1] = -8; /* negative */
    mini_write(&m, path);
    expect_bad(path, "string table 'gene.qualifier'", NULL);

    mini_init(&m);
    m.gene_std.off[1] = m.gene_std.off[2]; /* the second string empty (no NUL) */
    mini_write(&m, path);
    expect_bad(path, "string table 'gene.standard_name'", NULL);

    mini_init(&m);
    m.reaction_name.bytes[m.reaction_name.nb - 1] = 'x'; /* not NUL-terminated */
    mini_write(&m, path);
    expect_bad(path, "string table 'reaction.name'", "NUL");

    mini_init(&m);
    m.gem_name.off[0] = 1; /* does not start at 0 */
    mini_write(&m, path);
    expect_bad(path, "string table 'gem_reaction.name'", NULL);

    mini_init(&m);
    m.gene_alias.n = 1; /* one string for two genes */
    m.gene_alias.off[1] = m.gene_alias.nb;
    mini_write(&m, path);
    expect_bad(path, "gene.aliases.offsets", "graph's size");
    remove(path);
}

/* item 9: CSR row pointers and node indices out of range */
static void test_bad_indices(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "bad_index.safetensors");
    mini m;

    mini_init(&m);
    m.rowptr[CG_REL_REGULATORY][1] = (int64_t)1 << 40; /* a middle row pointer far past the edges */
    mini_write(&m, path);
    expect_bad(path, "relation 'regulatory'", "inconsistent CSR");

    mini_init(&m);
    m.src[CG_REL_REGULATORY][0] = 7; /* no gene 7 */
    mini_write(&m, path);
    expect_bad(path, "relation 'regulatory'", "inconsistent CSR");

    mini_init(&m);
    m.src[CG_REL_REGULATORY][0] = -1;
    mini_write(&m, path);
    expect_bad(path, "relation 'regulatory'", NULL);

    mini_init(&m);
    m.gem_index[0] = 1; /* one yeast-GEM reaction only */
    mini_write(&m, path);
    expect_bad(path, "reaction node tables", NULL);

    mini_init(&m);
    m.term_genes[0] = NG; /* no such gene */
    mini_write(&m, path);
    expect_bad(path, "reaction node tables", NULL);

    mini_init(&m);
    m.term_ptr[1] = 5; /* past the term genes */
    mini_write(&m, path);
    expect_bad(path, "reaction node tables", NULL);

    mini_init(&m);
    m.direction[0] = 2;
    mini_write(&m, path);
    expect_bad(path, "reaction node tables", NULL);
    remove(path);
}

/* Rewrites the safetensors file src as dst with pad extra spaces at the end of the header (a header length
 * that is not a multiple of 8 is valid safetensors) and shift zero bytes before the data, every tensor's
 * data_offsets moved by shift. */
static void rewrite(const char *src, const char *dst, int pad, int shift) {
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    unsigned char len8[8];
    assert_int_equal(fread(len8, 1, 8, f), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | len8[i];
    char *hdr = calloc(1, n + 1);
    assert_non_null(hdr);
    assert_int_equal(fread(hdr, 1, n, f), n);
    unsigned char data[1 << 14];
    size_t nd = fread(data, 1, sizeof data, f);
    assert_true(nd < sizeof data);
    fclose(f);
    cJSON *root = cJSON_Parse(hdr);
    assert_non_null(root);
    free(hdr);
    for (cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        cJSON *off = cJSON_GetObjectItem(e, "data_offsets");
        for (cJSON *o = off->child; o; o = o->next) cJSON_SetNumberValue(o, o->valuedouble + shift);
    }
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t tl = strlen(txt) + (size_t)pad;
    f = fopen(dst, "wb");
    assert_non_null(f);
    for (int i = 0; i < 8; i++) fputc((int)((tl >> (8 * i)) & 0xff), f);
    fputs(txt, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    for (int i = 0; i < shift; i++) fputc(0, f);
    assert_int_equal(fwrite(data, 1, nd, f), nd);
    assert_int_equal(fclose(f), 0);
    cJSON_free(txt);
}

/* item 10: a valid file whose header length is not a multiple of 8 loads (its tables are read aligned:
 * UBSan reported misaligned loads); a tensor at an offset that is not a multiple of its element size is
 * a clean error */
static void test_unaligned_files(void **state) {
    (void)state;
    char path[512], odd[512];
    tu_temp_path(path, sizeof path, "aligned.safetensors");
    tu_temp_path(odd, sizeof odd, "unaligned.safetensors");
    mini m;
    mini_init(&m);
    mini_write(&m, path);
    for (int pad = 1; pad < 8; pad++) {
        rewrite(path, odd, pad, 0);
        cg_graph *g = NULL;
        if (cg_graph_load(odd, &g) != CG_OK) fail_msg("header padded by %d: %s", pad, cg_last_error());
        assert_string_equal(cg_graph_node_name(g, CG_GENE, 1), "YAA002W");
        assert_int_equal(cg_graph_relation(g, CG_REL_REGULATORY)->rowptr[2], 1);
        cg_graph_free(g);
    }
    rewrite(path, odd, 0, 4); /* every tensor 4 bytes further: the I64 tables are misaligned */
    expect_bad(odd, "not a multiple of its 8-byte I64 elements", NULL);
    remove(path);
    remove(odd);
}

/* `graph info` on a valid graph with a node type without nodes and relations without edges: it read
 * deg[-1] for the empty type's degree quantiles (ASan: heap-buffer-overflow) and attr[0] of a relation
 * without edges */
static void test_info_empty_types(void **state) {
    (void)state;
    const char *cli = getenv("CELLGRAPH_CLI");
    if (!cli) skip();
    char path[512];
    tu_temp_path(path, sizeof path, "no_metabolites.safetensors");
    mini m;
    mini_init(&m);
    n_metabolites = 0;
    strtab_set(&m.met_name, 0, NULL);
    strtab_set(&m.met_comp, 0, NULL);
    mini_write(&m, path);
    n_metabolites = NM;
    cg_graph *g = NULL;
    if (cg_graph_load(path, &g) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_graph_num_nodes(g, CG_METABOLITE), 0);
    cg_graph_free(g);
    char cmd[2048], out[16384];
    snprintf(cmd, sizeof cmd, "'%s' graph info '%s' 2>&1", cli, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("graph info failed:\n%s", out);
    assert_non_null(strstr(out, "(reaction, rmr, metabolite)"));
    remove(path);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_graph_file: blocked opening a named pipe\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

/* item 8: a named pipe is refused at once, by the library and by `graph info` (open() used to wait for a
 * writer forever) */
static void test_named_pipe(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "graph.fifo");
    remove(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    signal(SIGALRM, on_alarm);
    alarm(60);
    cg_graph *g = (cg_graph *)&g;
    assert_int_equal(cg_graph_load(path, &g), CG_ERR_IO);
    assert_null(g);
    assert_non_null(strstr(cg_last_error(), path));
    assert_non_null(strstr(cg_last_error(), "named pipe"));
    alarm(0);
    const char *cli = getenv("CELLGRAPH_CLI");
    if (cli) {
        char cmd[2048], out[4096];
        snprintf(cmd, sizeof cmd, "timeout 60 '%s' graph info '%s' 2>&1", cli, path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = '\0';
        int st = pclose(p);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 1); /* an error, not 124 (timed out) */
        assert_non_null(strstr(out, "named pipe"));
    }
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_mini),      cmocka_unit_test(test_other_format),
        cmocka_unit_test(test_bad_string_tables), cmocka_unit_test(test_bad_indices),
        cmocka_unit_test(test_unaligned_files), cmocka_unit_test(test_info_empty_types),
        cmocka_unit_test(test_named_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
