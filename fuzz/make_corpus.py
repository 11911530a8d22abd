#!/usr/bin/env python3
"""Writes the seed corpus of the libFuzzer harnesses: fuzz/corpus/<harness>/<name>.

Every seed is written here by hand, small and in the format its reader expects, with the gene names of
the harnesses' fixed gene table (fuzz/fuzz_util.h). Nothing is taken from the yeast data folder.
Run from anywhere: python3 fuzz/make_corpus.py (it rewrites the corpus folders)."""
import gzip
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- safetensors

DT = {"F32": ("f", 4), "I32": ("i", 4), "I64": ("q", 8), "U8": ("B", 1), "F64": ("d", 8)}


def safetensors(tensors, metadata=None, pad_to=8):
    """tensors: list of (name, dtype, shape, values); laid out 8-byte types first, like the writer."""
    tensors = sorted(tensors, key=lambda t: -DT[t[1]][1])
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dt, shape, values in tensors:
        fmt, size = DT[dt]
        raw = struct.pack("<%d%s" % (len(values), fmt), *values) if fmt != "B" else bytes(values)
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad_to > 1:
        h += b" " * ((-len(h)) % pad_to)
    return struct.pack("<Q", len(h)) + h + data


def strtab(prefix, strings):
    offs, raw = [0], b""
    for s in strings:
        raw += s.encode() + b"\0"
        offs.append(len(raw))
    return [(prefix + ".offsets", "I64", [len(offs)], offs), (prefix + ".bytes", "U8", [len(raw)], list(raw))]


def mini_graph():
    """2 genes, 1 reaction node, 1 metabolite; one regulatory edge 0 -> 1; one gpr edge 0 -> r0 (and back);
    one rmr edge r0 -> m0 with stoichiometry -1 (and back)."""
    t = []

    def rel(name, n_dst, edges, attr=None):
        edges = sorted(edges, key=lambda e: e[1])
        rowptr = [0] * (n_dst + 1)
        for _, d in edges:
            rowptr[d + 1] += 1
        for i in range(n_dst):
            rowptr[i + 1] += rowptr[i]
        t.append((name + ".rowptr", "I64", [n_dst + 1], rowptr))
        t.append((name + ".src", "I32", [len(edges)], [e[0] for e in edges]))
        t.append((name + ".dst", "I32", [len(edges)], [e[1] for e in edges]))
        if attr is not None:
            t.append((name + ".stoichiometry", "F32", [len(edges)], attr * len(edges)))

    rel("physical", 2, [])
    rel("regulatory", 2, [(0, 1)])
    rel("gpr", 1, [(0, 0)])
    rel("gpr_rev", 2, [(0, 0)])
    rel("rmr", 1, [(0, 0)], [-1.0])
    rel("rmr_rev", 1, [(0, 0)], [-1.0])
    t += [("reaction.gem_index", "I32", [1], [0]), ("reaction.direction", "I32", [1], [0]),
          ("reaction.term_ptr", "I64", [2], [0, 1]), ("reaction.term_genes", "I32", [1], [0])]
    t += strtab("gene.name", ["YAL001C", "YAL012W"]) + strtab("gene.standard_name", ["TFC3", "CYS3"])
    t += strtab("gene.aliases", ["FUN24|TSV115", ""]) + strtab("gene.qualifier", ["Verified", "Verified"])
    t += strtab("reaction.name", ["r_0001_0"]) + strtab("gem_reaction.id", ["r_0001"])
    t += strtab("gem_reaction.name", ["a reaction"]) + strtab("metabolite.name", ["s_0001"])
    t += strtab("metabolite.compartment", ["c"])
    return safetensors(t, {"format": "cellgraph.graph/1", "recipe": "fuzz seed"})


def checkpoint():
    meta = {
        "format": "cellgraph.checkpoint/1",
        "model": json.dumps({"model": "additive"}),
        "train": json.dumps({"epochs": 2, "batch_size": 8}),
        "label_statistics": json.dumps({"fitness": {"mean": 0.9, "std": 0.1}, "epsilon": {"mean": 0, "std": 0.05},
                                        "tau": {"mean": 0, "std": 0.04}}),
        "graph_checksum": "0a1b2c3d", "dataset_checksum": "deadbeef", "epoch": "1", "step": "12",
    }
    return safetensors([("mean", "F32", [3], [0.9, 0.0, 0.0]), ("offsets", "F32", [2, 3], [0.0] * 6)], meta)


def dataset():
    """3 samples over 4 genes: a single, a pair, a triple; every split kind."""
    nan = float("nan")
    t = [("genotype", "I32", [3, 3], [0, -1, -1, 0, 1, -1, 1, 2, 3]),
         ("label", "F32", [3, 3], [0.9, nan, nan, 0.7, -0.05, nan, nan, nan, 0.02]),
         ("label_std", "F32", [3, 3], [0.01, nan, nan, 0.02, nan, nan, nan, nan, nan]),
         ("label_p_value", "F32", [3, 3], [nan, nan, nan, nan, 0.01, nan, nan, nan, 0.2]),
         ("label_count", "I32", [3, 3], [1, 0, 0, 1, 1, 0, 0, 0, 1]),
         ("source_mask", "I32", [3], [1, 2, 2])]
    for k in ("random", "gene1", "gene2", "query"):
        t.append(("split." + k, "I32", [3], [0, 1, 2]))
    stat = {"mean": 0.5, "std": 0.1, "min": 0, "max": 1, "count": 1}
    stats = {k: {"fitness": stat, "epsilon": stat, "tau": stat} for k in ("random", "gene1", "gene2", "query")}
    sources = [{"source": "smf", "rows": 3, "records": 1, "dropped": [{"reason": "unknown gene", "rows": 2,
                                                                       "example": "X"}]},
               {"source": "dcell", "rows": 2, "records": 2, "dropped": []}]
    meta = {"format": "cellgraph.dataset/2", "labels": json.dumps(["fitness", "epsilon", "tau"]),
            "sources": json.dumps(sources), "label_statistics": json.dumps(stats), "n_genes": "4",
            "genes_crc32": "12345678", "seed": "42", "gene_holdout": "0.1"}
    return safetensors(t, meta)


put("fuzz_safetensors", "dataset", dataset())
put("fuzz_safetensors", "empty", safetensors([]))
put("fuzz_safetensors", "two_tensors", safetensors([("a", "F32", [2, 2], [1, 2, 3, 4]), ("b", "I64", [3], [1, 2, 3])],
                                                   {"note": "x"}))
put("fuzz_safetensors", "scalar_unaligned", safetensors([("s", "F64", [], [2.5]), ("u", "U8", [0], [])], pad_to=1))
put("fuzz_safetensors", "graph", mini_graph())
put("fuzz_safetensors", "checkpoint", checkpoint())

# ---------------------------------------------------------------- configs

put("fuzz_config", "train_only", '{"train": {"epochs": 3, "batch_size": 16, "lr": 0.001, "seed": 7}}')
put("fuzz_config", "additive", '{"model": "additive", "seed": 1}')
put("fuzz_config", "nested", '{"a": [1, 2, {"b": null, "c": "\\u00e9"}], "d": -1.5e3}')
# the project's own configs (configs/*.json) are seeds too
for name in sorted(os.listdir(os.path.join(HERE, "..", "configs"))):
    if name.endswith(".json"):
        shutil.copy(os.path.join(HERE, "..", "configs", name), os.path.join(CORPUS, "fuzz_config", name))

# ---------------------------------------------------------------- genotype files and gene lists

put("fuzz_genotypes", "genotypes", "# genotypes\nYAL001C\nTFC3 CYS3\nYBR001C,YCR002C,Q0045\n\ncdc10\tvps8\n")
put("fuzz_genotypes", "gene_list", "# genes\nYAL001C\n  CYS3  \nfun24x\nYLR130C-A\nCOX1\r\n")
put("fuzz_genotypes", "gene_list_gz", gzip.compress(b"YAL001C\nNTH2\nPFK1\n", mtime=0))

# ---------------------------------------------------------------- gene rules

for i, rule in enumerate(["YAL012W and (YBR001C or YCR002C)", "(A or B) and (C or D)", "",
                          "Q0045 OR YLR130C-A", "A and(B or C) And ((D))", "A or A and B or (B and A)"]):
    put("fuzz_gpr", "rule%d" % i, rule)

# ---------------------------------------------------------------- yeast-GEM YAML

GEM_OMAP = """!!omap
- metaData: !!omap
  - id: fuzzGEM
  - name: a made-up model
- metabolites:
  - !!omap
    - id: s_0001
    - name: A
    - compartment: c
  - !!omap
    - id: s_0002
    - name: B
    - compartment: m
- reactions:
  - !!omap
    - id: r_0001
    - name: A to B
    - metabolites: !!omap
      - s_0001: -1
      - s_0002: 1.5
    - lower_bound: -1000.0
    - upper_bound: .inf
    - gene_reaction_rule: YAL012W and (YBR001C or YCR002C)
    - subsystem:
      - glycolysis
  - !!omap
    - id: r_0002
    - name: exchange
    - metabolites: !!omap
      - s_0002: -1
    - lower_bound: 0
    - upper_bound: 1000
    - gene_reaction_rule: ''
    - objective_coefficient: 1.0
- genes:
  - !!omap
    - id: YAL012W
    - name: CYS3
    - annotation: !!omap
      - uniprot: P31373
  - !!omap
    - id: YBR001C
    - name: NTH2
    - annotation: !!omap
      - uniprot: "P35172"
- compartments: !!omap
  - c: cytoplasm
  - m: mitochondrion
"""
GEM_MAP = """metaData:
  id: fuzzGEM2
metabolites:
- id: s_1
  compartment: c
reactions:
- id: r_1
  metabolites:
    s_1: -2
  lower_bound: -10
  upper_bound: 10
  gene_reaction_rule: Q0045 or YGR240C
  subsystem: sub
genes:
- id: Q0045
  annotation:
    uniprot: P00401
- id: YGR240C
compartments:
  c: cytoplasm
"""
put("fuzz_gem", "omap.yml", GEM_OMAP)
put("fuzz_gem", "map.yml", GEM_MAP)

# ---------------------------------------------------------------- SGD_features.tab


def sgd_row(sgdid, ftype, qual, sys, std, alias):
    return "\t".join([sgdid, ftype, qual, sys, std, alias, "chromosome 1", "", "1", "100", "900", "W", "",
                      "2011-02-03", "1996-07-31", "made-up description"]) + "\n"


put("fuzz_genes", "features.tab",
    sgd_row("S000002143", "ORF", "Verified", "YAL001C", "TFC3", "FUN24|TSV115")
    + sgd_row("S000000001", "ARS", "", "ARS102", "", "")
    + sgd_row("S000002144", "ORF", "Dubious", "YAL002W", "VPS8", "CORT2|VPL8")
    + sgd_row("S000002145", "ORF", "Verified|silenced_gene", "YLR130C-A", "", "SHARED1")
    + sgd_row("S000002146", "ORF", "Uncharacterized", "Q0045", "COX1", "SHARED1|OXI3")
    + "\n")

# ---------------------------------------------------------------- networks (first byte: the reader)

NET = {
    0: "item_id_a\titem_id_b\tmode\taction\tis_directional\ta_is_acting\tscore\n"
       "4932.YAL001C\t4932.YAL012W\tbinding\t\tf\tf\t800\n"
       "4932.YAL012W\t4932.YAL001C\tbinding\t\tf\tf\t800\n"
       "4932.YAL001C\t4932.Q0045\tactivation\tactivation\tt\tt\t300\n",
    1: "YAL001C YAL012W\nYBR001C\tYCR002C\nYAL001C NOSUCH1\n",
    2: "MATa orf\tgene\ttype\tMATalpha orf\tgene\ttype\tintensity\tz-score\tPPV%\n"
       "YAL001C\tTFC3\tx\tYAL012W\tCYS3\ty\t1.5\t2.0\t90\n",
    3: "3;YAL001C;CYS3;Uncharacterized\nTfc3p;0;1;1\nCdc10p;1;0;0\nYBR001C;1;1;0\n",
    4: "TFC3;CYS3\nCDC10;ADE5,7\nTFC3;YAL001C\n",
    5: "YAL001C YAL012W 0.5\nYBR001C YCR002C 1\nYAL001C Q0045 0.25\n",
    6: "1 2 0.9\n2 1 0.9\n3 1 0.1\n\x01YAL001C\nYAL012W\nQ0045\n",
    7: "#Complex ac\tRecommended name\tExpanded participant list\n"
       "CPX-1\tone\tP34111(1)|P31373(2)|P16861-PRO_0000006173(0)|CHEBI:15377(1)\n"
       "CPX-2\ttwo\t[P34111,P31373](1)|P16861-2(1)|URS0000(1)\n",
}
for k, text in NET.items():
    put("fuzz_networks", "reader%d" % k, bytes([k]) + text.encode())

# ---------------------------------------------------------------- phenotypes (first byte: the reader)

SGA_KUZMIN = ("Query Strain ID\tArray Strain ID\tAdjusted genetic interaction score (epsilon or tau)\tP-value\t"
              "Double/triple mutant fitness\tDouble/triple mutant fitness standard deviation\n"
              "YAL001C+YDL227C_tm1\tYAL012W_dma1\t-0.12\t0.01\t0.7\t0.05\n"
              "YAL001C+YBR001C_tm2\tYCR002C_sn3\t0.08\t0.2\t0.9\tNaN\n")
SGA_COSTANZO = ("Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"
                "Genetic interaction score (\u03b5)\tP-value\tQuery single mutant fitness (SMF)\tArray SMF\t"
                "Double mutant fitness\tDouble mutant fitness standard deviation\n"
                "YAL001C_sn1\ttfc3\tYAL012W_dma2\tcys3\u0394\tDMA30\t-0.05\t0.04\t\t0.9\t0.8\t0.02\n"
                "YBR001C_tsq5\tnth2-1\tYCR002C_dma3\tcdc10\u0394\tTSA26\t0.1\t0.5\t0.9\t0.9\t0.85\t0.01\n")
PHEN = {
    0: "YAL001C_dma1\t0.95\t0.02\nYAL012W_sn2\tNaN\t0.1\nYBR001C_tsa3\t0.5\t0.1\nCYS3_dma4\t1.01\tNaN\n",
    1: "2 YAL001C YAL012W -0.05\n3 YBR001C YCR002C Q0045 0.1\n1 YAL001C 0.2\n2 YAL001C YAL001C 0\n",
    2: "YAL001C+YDL227C_tm1\t0.9\t0.05\nYAL001C+YAL012W_tm2\t0.7\t0.03\nURA3control+YAL001C_tm3\t1\t0.1\n",
    3: "\ufeff" + SGA_KUZMIN,
    4: SGA_COSTANZO,
}
for k, text in PHEN.items():
    put("fuzz_phenotypes", "reader%d" % k, bytes([k]) + text.encode())

# ---------------------------------------------------------------- lines (first byte: 0 raw, 1 gzip here)

put("fuzz_lines", "plain", b"\x00a\tb\tc\nline two\r\n\nlast without newline")
put("fuzz_lines", "to_gzip", b"\x01header\tx\n1\t2\n")
put("fuzz_lines", "gzip_file", b"\x00" + gzip.compress(b"compressed\nlines\n", mtime=0))
put("fuzz_lines", "gzip_cut", b"\x00" + gzip.compress(b"compressed\nlines\n" * 20, mtime=0)[:40])
