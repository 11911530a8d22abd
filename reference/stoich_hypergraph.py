"""StoichHypergraphConv in PyTorch / PyTorch Geometric: the reference for cellgraph's C layer.

The math is torchcell's StoichHypergraphConv (torchcell/nn/stoichiometric_hypergraph_conv.py @007c45e,
written out in ../shared/reference/torchcell-models.md section 1.7), with the one correction cellgraph
makes (include/cellgraph/stoich_hypergraph.h):

  * without attention torchcell uses a single head whatever `heads` says (lin maps F -> C) but sizes the
    bias with the constructor's `heads` (heads * C entries, a shape error when heads > 1 and concat);
    here, as in cellgraph, the bias has out_cols = H*C (concat) or C (mean) entries for the heads used.

Everything else is torchcell's computation (one sample, head h, incidence k = (node v_k, hyperedge e_k,
signed stoichiometry s_k)):

  X = x W^T, Ahat = A W^T (same W);  g_v = sigmoid(gate_lin(x_v)) (gated; else 1)
  p_kh = softmax over the incidences of e_k ("node") or of v_k ("edge") of
         LeakyReLU(att[h, :C] . X[v_k, h] + att[h, C:] . Ahat[e_k, h])      (attention; else 1)
  w_kh = dropout(p_kh) g_{v_k} s_k
  D_v = 1 / sum_{k: v_k = v} |s_k|,  B_e = 1 / sum_{k: e_k = e} |s_k|      (1/0 -> 0)
  m_e = B_e sum_{k: e_k = e} w_k X[v_k];   y_v = D_v sum_{k: v_k = v} w_k m_{e_k}
  out = concat_h y (or mean over h) + bias

Parameter names are cellgraph's registration names (cg_stoich_hg_register): lin.weight,
gate_lin.weight, gate_lin.bias, att, bias. Deleted nodes and hyperedges are expressed by the caller
removing their incidences (make_fixtures.py); num_edges is always passed explicitly (torchcell's
default max(edge_index[1]) + 1 would drop trailing hyperedges without incidences).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import glorot, zeros
from torch_geometric.utils import scatter, softmax


class StoichHypergraphConv(MessagePassing):
    def __init__(self, in_channels: int, out_channels: int, is_stoich_gated: bool = False,
                 use_attention: bool = False, attention_mode: str = "node", heads: int = 1,
                 concat: bool = True, negative_slope: float = 0.2, dropout: float = 0.0,
                 bias: bool = True):
        super().__init__(aggr="add", flow="source_to_target", node_dim=0)
        if attention_mode not in ("node", "edge"):
            raise ValueError(f"attention_mode {attention_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.is_stoich_gated = is_stoich_gated
        self.use_attention = use_attention
        self.attention_mode = attention_mode
        self.heads = heads if use_attention else 1
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        H, C = self.heads, out_channels
        self.lin = Linear(in_channels, H * C, bias=False, weight_initializer="glorot")
        if is_stoich_gated:
            self.gate_lin = Linear(in_channels, 1, bias=True, weight_initializer="glorot")
        if use_attention:
            self.att = Parameter(torch.empty(1, H, 2 * C))
        else:
            self.register_parameter("att", None)
        if bias:
            self.bias = Parameter(torch.empty(H * C if concat else C))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        self.lin.reset_parameters()
        if self.is_stoich_gated:
            self.gate_lin.reset_parameters()
        if self.att is not None:
            glorot(self.att)
        if self.bias is not None:
            zeros(self.bias)

    def forward(self, x: Tensor, edge_index: Tensor, stoich: Tensor, hyperedge_attr: Optional[Tensor] = None,
                num_edges: Optional[int] = None) -> Tensor:
        """x [N, F]; edge_index [2, K] (row 0 node, row 1 hyperedge); stoich [K]; hyperedge_attr [M, F]."""
        N = x.size(0)
        M = int(edge_index[1].max()) + 1 if num_edges is None else num_edges
        H, C = self.heads, self.out_channels
        node, edge = edge_index[0], edge_index[1]
        X = self.lin(x).view(-1, H, C)

        alpha = None
        if self.use_attention:
            if hyperedge_attr is None:
                raise ValueError("use_attention needs hyperedge_attr")
            Ahat = self.lin(hyperedge_attr).view(-1, H, C)
            att = self.att.view(H, 2 * C)
            score = (X[node] * att[:, :C]).sum(-1) + (Ahat[edge] * att[:, C:]).sum(-1)  # [K, H]
            score = F.leaky_relu(score, self.negative_slope)
            if self.attention_mode == "node":
                alpha = softmax(score, edge, num_nodes=M)
            else:
                alpha = softmax(score, node, num_nodes=N)
            alpha = F.dropout(alpha, p=self.dropout, training=self.training)

        gate = None
        if self.is_stoich_gated:
            gate = torch.sigmoid(self.gate_lin(x)).view(-1)[node]  # per incidence, the gate of its node

        mag = stoich.abs()
        Dv = 1.0 / scatter(mag, node, dim=0, dim_size=N, reduce="sum")
        Dv[Dv == float("inf")] = 0
        Be = 1.0 / scatter(mag, edge, dim=0, dim_size=M, reduce="sum")
        Be[Be == float("inf")] = 0

        # node -> hyperedge, then hyperedge -> node over the flipped incidences (the same weights)
        m = self.propagate(edge_index, x=X, norm=Be, alpha=alpha, stoich=stoich, gate=gate, size=(N, M))
        y = self.propagate(edge_index.flip([0]), x=m, norm=Dv, alpha=alpha, stoich=stoich, gate=gate,
                           size=(M, N))
        out = y.reshape(-1, H * C) if self.concat else y.mean(dim=1)
        if self.bias is not None:
            out = out + self.bias
        return out

    def message(self, x_j: Tensor, norm_i: Tensor, alpha: Optional[Tensor], stoich: Tensor,
                gate: Optional[Tensor]) -> Tensor:
        w = stoich.abs() * torch.sign(stoich)  # torchcell: magnitude * sign
        if gate is not None:
            w = w * gate
        out = (norm_i * w).view(-1, 1, 1) * x_j.view(-1, self.heads, self.out_channels)
        if alpha is not None:
            out = alpha.view(-1, self.heads, 1) * out
        return out
